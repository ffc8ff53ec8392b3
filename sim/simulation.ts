/**
 * One simulated world: the virtual clock, the Auto Scaling groups, the services around
 * them, and the real themis code on top, run as Lambda runs it —
 *
 *   gate     lib/gate/handler.ts `createGateHandler` with the real SDK adapters
 *            (lib/gate/aws-ports.ts over fake clients, sim/aws.ts), built per container at
 *            its cold start from the function's environment (serverless.yml, sim/deployed.ts);
 *            invoked asynchronously for each lifecycle event (EventBridge) and with batches
 *            from the recheck queue (sim/delivery.ts), concurrently, each invocation killed at
 *            the function's timeout.
 *   protect  lib/protect/handler.ts `createProtectHandler` on its schedule, with the real
 *            adapters too.
 *
 * Every AWS call, probe and cold start takes virtual time (sim/sdk.ts, sim/probers.ts,
 * sim/lambda.ts); lib code gets the container's virtual timers (GateDeps.timers) and the
 * Lambda context's remaining time. Everything is seeded: the same options and seed give the
 * same history, call for call.
 *
 * For benchmarks: `sim.calls` counts every AWS operation by API name (snapshot()/since());
 * `sim.fleet.actions` holds each lifecycle action; `sim.gate.invocations` each gate
 * invocation; `sim.steps` each gate step's decision; `sim.scans` each protect scan's report.
 */
import { AutoScalingAdapter } from '../lib/aws/auto-scaling.js';
import { EcsAdapter } from '../lib/aws/ecs.js';
import { Ec2Addresses } from '../lib/aws/ec2.js';
import { loadSqsSdk } from '../lib/aws/sqs-backlog.js';
import { loadSsmSdk } from '../lib/aws/ssm.js';
import { createGatePorts } from '../lib/gate/aws-ports.js';
import { parseGateEnv } from '../lib/gate/config.js';
import { createGateHandler } from '../lib/gate/handler.js';
import type { GateDeps } from '../lib/gate/step.js';
import { silentLog, type ContextLog } from '../lib/log.js';
import type { Log, Prober } from '../lib/ports.js';
import { createHttpProber } from '../lib/probe.js';
import { parseProtectConfig } from '../lib/protect/config.js';
import { SnsNotifications } from '../lib/aws/sns.js';
import { createProtectHandler, type RegionalPorts } from '../lib/protect/handler.js';
import type { GroupReport } from '../lib/protect/scan.js';
import { ApiCalls } from './api-calls.js';
import { SimAwsError } from './aws-error.js';
import { createFakeClients, type AwsModel } from './aws.js';
import type { Deployed } from './deployed.js';
import { AsyncInvoker, SqsQueue } from './delivery.js';
import { EcsWorld, recordingEcs, type EcsWorldOptions } from './ecs-fleet.js';
import { Fleet, type FleetOptions, type GroupSpec, type LifecycleEvent } from './fleet.js';
import { Journal } from './journal.js';
import { LambdaFunction, type Container } from './lambda.js';
import {
  startLoopbackWorkers,
  type LoopbackWorkerOptions,
  type LoopbackWorkers,
} from './loopback-workers.js';
import { createModelProber, recordProbes, type ProbeRecord } from './probers.js';
import { Random } from './random.js';
import { Scheduler } from './scheduler.js';
import { AwsAccount, type AccountOptions, type CallEnv } from './sdk.js';
import { SimCommands, type CommandsOptions, type PublishedNotice } from './services.js';

/**
 * Config parsing is pure (the same environment gives the same config) and each container
 * parses once at its cold start, as functions/*.ts do; across thousands of histories the
 * answers are cached by environment so cold starts stay cheap. Each container still gets its
 * own copy: lib code may key a container's memory on its config object (lib/gate/handler.ts).
 */
const gateConfigs = new Map<string, ReturnType<typeof parseGateEnv>>();
const protectConfigs = new Map<string, ReturnType<typeof parseProtectConfig>>();
function cached<T>(
  cache: Map<string, T>,
  env: Record<string, string>,
  parse: (env: Record<string, string>) => T,
): T {
  const key = JSON.stringify(env);
  let hit = cache.get(key);
  if (hit === undefined) {
    hit = parse(env);
    cache.set(key, hit);
  }
  return structuredClone(hit);
}

export function gateConfigOf(env: Record<string, string>): ReturnType<typeof parseGateEnv> {
  return cached(gateConfigs, env, parseGateEnv);
}

export const SIM_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-sim-recheck';
export const SIM_TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:themis-sim-outcomes';
const REGION = 'us-east-1';

export interface Unprotection {
  at: number;
  instanceId: string;
  /** The instance's most recent probe before the call (by protect or the gate). */
  lastProbe?: ProbeRecord;
}

/** One probe answer, by whom (the checker's probe history). */
export interface ProbeAnswer extends ProbeRecord {
  fn: 'gate' | 'protect';
  /** The invocation that asked (InvocationRecord.id of that function). */
  invocation: number;
}

/** A CompleteLifecycleAction that ended an action, and the gate invocation that sent it. */
export interface Completion {
  at: number;
  instanceId: string;
  invocation: number;
}

export interface StepRecord {
  at: number;
  instanceId?: string;
  /** The gate's decision (its 'gate decision' log line), or 'stopped'. */
  decision: string;
  reason?: string;
  invocation?: number;
}

export interface ScanRecord {
  at: number;
  report: GroupReport;
}

export interface FaultOptions extends AccountOptions {
  /** Probability that an invocation's container dies after one of its first `crashWithinOps` operations. */
  crash?: number;
  crashWithinOps?: number;
  duplicateEvent?: number;
  duplicateRecheck?: number;
}

export interface GateOptions {
  /** Over the deployed environment (THEMIS_*); set THEMIS_TOPIC_ARN to '' for no topic. */
  env?: Record<string, string>;
  /** Change what a gate container is built with — only to show the checker catches it. */
  wrapDeps?: (deps: GateDeps, sim: Simulation) => GateDeps;
  /** false: lifecycle events go nowhere (a group without themis's gate). */
  enabled?: boolean;
}

export interface ProtectOptions {
  /** Over the deployed environment. */
  env?: Record<string, string>;
  /** Seconds between scheduled invocations (default: the deployed rate). */
  intervalSeconds?: number;
  /** First invocation this many seconds after the start (default: at once). */
  firstAtSeconds?: number;
  /** Change the protect ports (like GateOptions.wrapDeps). */
  wrapPorts?: (ports: RegionalPorts, sim: Simulation) => RegionalPorts;
}

export interface SimulationOptions {
  seed: number;
  /** The stack (sim/deployed.ts); its numbers are the simulator's. */
  deployed: Deployed;
  groups: GroupSpec[];
  startMs?: number;
  work?: FleetOptions['work'];
  fleet?: Pick<
    FleetOptions,
    'launchSeconds' | 'reconcileDelaySeconds' | 'shutdownSeconds' | 'addressOf' | 'readiness'
  >;
  faults?: FaultOptions;
  gate?: GateOptions;
  /** false: no protect invocations at all. */
  protect?: ProtectOptions | false;
  commands?: CommandsOptions;
  /** Override deployed numbers (only to show the checker catches a bad deployment). */
  overrides?: {
    visibilityTimeoutSeconds?: number;
    gateTimeoutSeconds?: number;
    batchSize?: number;
  };
  /** Probes without a hard deadline of their own (a broken variant). */
  probesWithoutDeadline?: boolean;
  /** Where protect's and the gate's log lines go (default: nowhere). */
  log?: Log;
  /** ECS clusters on some groups (sim/ecs-fleet.ts): those groups run in ECS mode. */
  ecs?: EcsWorldOptions;
}

/**
 * The SDKs the product loads on first use (a dynamic import: real file I/O, and in a worker
 * thread a round trip through tsx's loader thread) loaded before the clock runs. Otherwise the
 * scheduler, which advances virtual time whenever nothing it tracks is pending, sees the
 * import as a call that never answers: the step's deadline passes (76 virtual seconds) while
 * a module loads in a few real milliseconds — seed 5001 failed every gate step that way. The
 * loaders memoise their promise, so later loads are microtasks.
 */
let onDemandSdks: Promise<unknown> | undefined;
export function preloadOnDemandSdks(): Promise<unknown> {
  onDemandSdks ??= Promise.all([loadSsmSdk(), loadSqsSdk()]);
  return onDemandSdks;
}

export class Simulation {
  readonly scheduler: Scheduler;
  readonly random: Random;
  readonly journal: Journal;
  readonly fleet: Fleet;
  readonly calls = new ApiCalls();
  readonly account: AwsAccount;
  readonly published: PublishedNotice[] = [];
  readonly commands: SimCommands;
  readonly recheckQueue: SqsQueue;
  readonly events: AsyncInvoker;
  readonly gate: LambdaFunction;
  readonly protect: LambdaFunction;
  /** Each instance's latest probe answer, by anyone. */
  readonly lastProbe = new Map<string, ProbeRecord>();
  readonly unprotections: Unprotection[] = [];
  /** Every probe answer, per instance, in order: what it said, when, to which invocation. */
  readonly probeHistory = new Map<string, ProbeAnswer[]>();
  readonly completions: Completion[] = [];
  /** TerminateInstanceInAutoScalingGroup calls Auto Scaling accepted, and who made them. */
  readonly terminateCalls: Completion[] = [];
  readonly steps: StepRecord[] = [];
  readonly scans: ScanRecord[] = [];
  /** The gate's environment as deployed now (redeploy() changes it). */
  gateEnv: Record<string, string>;
  /** …and as first deployed. */
  readonly initialGateEnv: Record<string, string>;
  /** Set when a probe was refused by the loopback guard: the run stops loudly. */
  fatal?: unknown;

  private readonly log: Log;
  private proberFactory: (c: Container, fn: 'gate' | 'protect') => Prober;
  private protectTimer?: { cancel(): void };
  readonly model: AwsModel;
  /** The ECS clusters of ECS-mode groups (always there; empty without options.ecs). */
  readonly ecs: EcsWorld;
  private readonly sdkRandom: Random;
  private readonly gateRandom: Random;

  constructor(readonly options: SimulationOptions) {
    const d = options.deployed;
    this.scheduler = new Scheduler(options.startMs);
    this.random = new Random(options.seed);
    this.journal = new Journal(this.scheduler.now);
    this.log = options.log ?? silentLog;
    const faults = options.faults ?? {};
    this.account = new AwsAccount(this.scheduler, this.random.fork('aws'), this.calls, faults);
    this.sdkRandom = this.random.fork('sdk');
    this.gateRandom = this.random.fork('gate-jitter');
    this.fleet = new Fleet({
      scheduler: this.scheduler,
      random: this.random.fork('fleet'),
      journal: this.journal,
      region: REGION,
      ...options.fleet,
      ...(options.work ? { work: options.work } : {}),
    });
    this.commands = new SimCommands(
      this.scheduler,
      this.random.fork('ssm'),
      this.fleet,
      options.commands,
    );

    const o = options.overrides ?? {};
    const deliveries = this.random.fork('deliveries');
    this.recheckQueue = new SqsQueue(this.scheduler, deliveries, this.journal, {
      name: 'recheck',
      url: SIM_QUEUE_URL,
      visibilityTimeoutSeconds:
        o.visibilityTimeoutSeconds ?? d.recheckQueue.visibilityTimeoutSeconds,
      maxReceiveCount: d.recheckQueue.maxReceiveCount,
      batchSize: o.batchSize ?? d.gate.batchSize,
      duplicateRate: faults.duplicateRecheck ?? 0,
    });
    this.model = {
      fleet: this.fleet,
      commands: this.commands,
      journal: this.journal,
      published: this.published,
      topicArn: SIM_TOPIC_ARN,
      now: this.now,
      sendMessage: (queueUrl, body, delaySeconds) => {
        if (queueUrl !== SIM_QUEUE_URL) {
          throw new SimAwsError(
            'AWS.SimpleQueueService.NonExistentQueue',
            `The specified queue does not exist: ${queueUrl}`,
          );
        }
        return this.recheckQueue.send(body, delaySeconds);
      },
      onComplete: (instanceId, by) => {
        const invocation = (by as Partial<Container>).invocation;
        if (invocation !== undefined)
          this.completions.push({ at: this.now(), instanceId, invocation });
      },
      onTerminate: (instanceId, by) => {
        const invocation = (by as Partial<Container>).invocation;
        if (invocation !== undefined)
          this.terminateCalls.push({ at: this.now(), instanceId, invocation });
      },
      onProtection: (instanceIds, protect, by) => {
        if (protect) return;
        // What the container that made the call last heard from the instance.
        const heard = (by as Partial<Container>).lastProbes;
        for (const instanceId of instanceIds) {
          const lastProbe = heard?.get(instanceId) as ProbeRecord | undefined;
          this.unprotections.push({
            at: this.now(),
            instanceId,
            ...(lastProbe ? { lastProbe } : {}),
          });
        }
      },
    };

    this.gateEnv = {
      ...d.gate.env,
      AWS_REGION: REGION,
      THEMIS_RECHECK_QUEUE_URL: SIM_QUEUE_URL,
      THEMIS_TOPIC_ARN: SIM_TOPIC_ARN,
      ...options.gate?.env,
    };
    this.initialGateEnv = this.gateEnv;
    const crashRandom = this.random.fork('crash');
    const crashAfterOps = () =>
      crashRandom.chance(faults.crash ?? 0)
        ? crashRandom.int(1, faults.crashWithinOps ?? 6)
        : undefined;
    this.proberFactory = (c, fn) =>
      createModelProber(
        {
          fleet: this.fleet,
          scheduler: this.scheduler,
          random: this.random.fork(`probe-${fn}-${c.id}`),
          lastProbe: this.lastProbe,
          alsoRecordIn: c.lastProbes as Map<string, ProbeRecord>,
        },
        c,
        { hardDeadline: !options.probesWithoutDeadline },
      );

    this.gate = new LambdaFunction(this.scheduler, this.random.fork('gate-lambda'), {
      name: 'gate',
      timeoutMs: (o.gateTimeoutSeconds ?? d.gate.timeoutSeconds) * 1000,
      crashAfterOps,
      build: (c) => this.buildGate(c),
    });
    this.protect = new LambdaFunction(this.scheduler, this.random.fork('protect-lambda'), {
      name: 'protect',
      timeoutMs: d.protect.timeoutSeconds * 1000,
      build: (c) => this.buildProtect(c),
    });
    this.recheckQueue.attach(this.gate);
    this.events = new AsyncInvoker(this.scheduler, deliveries, this.journal, this.gate, {
      maximumRetryAttempts: d.gate.maximumRetryAttempts,
      latencyMs: [200, 2000],
      duplicateRate: faults.duplicateEvent ?? 0,
    });
    this.ecs = new EcsWorld(
      this.scheduler,
      this.random.fork('ecs'),
      this.fleet,
      this.journal,
      options.ecs ?? { clusters: [] },
    );
    if (options.gate?.enabled !== false) {
      this.fleet.onLifecycleEvent((event: LifecycleEvent) =>
        this.events.send(event, event.detail.EC2InstanceId),
      );
    }
    for (const spec of options.groups) {
      const ecsTags = this.ecs.tagsFor(spec.name);
      this.fleet.addGroup(
        Object.keys(ecsTags).length ? { ...spec, tags: { ...spec.tags, ...ecsTags } } : spec,
      );
    }
  }

  now = (): number => this.scheduler.now();

  /** SDK clients for one container, answering from this world. */
  private callEnv(c: Container): CallEnv {
    return {
      scheduler: this.scheduler,
      account: this.account,
      owner: c,
      retry: c.retry,
      random: this.sdkRandom,
    };
  }

  private buildGate(c: Container) {
    const config = gateConfigOf(this.gateEnv);
    const clients = createFakeClients(this.model, this.callEnv(c));
    let deps: GateDeps = {
      config,
      ...createGatePorts(config, clients, this.ecs.client(this.callEnv(c))),
      prober: this.answersRecorded(this.proberFactory(c, 'gate'), c, 'gate'),
      log: this.gateLog(),
      clock: c.timers.now,
      timers: c.timers,
      random: this.gateRandom.next,
    };
    if (this.options.gate?.wrapDeps) deps = this.options.gate.wrapDeps(deps, this);
    return createGateHandler(deps) as (event: unknown, context: unknown) => Promise<unknown>;
  }

  private buildProtect(c: Container) {
    const p = this.options.protect || {};
    const config = cached(
      protectConfigs,
      {
        ...this.options.deployed.protect.env,
        AWS_REGION: REGION,
        THEMIS_TOPIC_ARN: SIM_TOPIC_ARN,
        THEMIS_RECHECK_QUEUE_URL: SIM_QUEUE_URL,
        THEMIS_TARGETS: JSON.stringify(this.fleet.groupNames().map((asgName) => ({ asgName }))),
        ...p.env,
      },
      parseProtectConfig,
    );
    const clients = createFakeClients(this.model, this.callEnv(c));
    const autoScaling = new AutoScalingAdapter(clients.autoScaling);
    let ports: RegionalPorts = {
      groups: autoScaling,
      protection: autoScaling,
      // Retained instances are terminated once idle (lib/protect/retained.ts).
      retained: autoScaling,
      addresses: new Ec2Addresses(clients.ec2),
      // ECS mode's answers are recorded as protect's probes are (the checker reads both).
      ecs: recordingEcs(new EcsAdapter(this.ecs.client(this.callEnv(c))), (instanceId, status) => {
        const record = { at: this.now(), status };
        this.lastProbe.set(instanceId, record);
        (c.lastProbes as Map<string, ProbeRecord>).set(instanceId, record);
      }),
    };
    if (p.wrapPorts) ports = p.wrapPorts(ports, this);
    const scans = this.scans;
    const log = this.protectLog();
    const handler = createProtectHandler({
      config,
      portsFor: () => ports,
      prober: this.answersRecorded(this.proberFactory(c, 'protect'), c, 'protect'),
      log,
      clock: c.timers.now,
      timers: c.timers,
      sleep: (ms) => new Promise((resolve) => c.timers.setTimeout(resolve, ms)),
      ...(config.topicArn
        ? { notifications: new SnsNotifications(clients.sns, config.topicArn) }
        : {}),
    });
    return async (event: unknown, context: unknown) => {
      const result = await handler(event, context as { getRemainingTimeInMillis(): number });
      for (const round of result.scans) {
        for (const report of round.groups) {
          scans.push({ at: this.now(), report });
          this.journal.add(
            'scan',
            `protect ${report.asgName}: ${Object.keys(report.busy).length} busy, ${Object.keys(report.idle).length} idle, ${Object.keys(report.error).length} unknown${report.protected.length ? `; protected ${report.protected.join(', ')}` : ''}${report.unprotected.length ? `; unprotected ${report.unprotected.join(', ')}` : ''}${report.outcome !== 'ok' ? ` (${report.outcome}: ${report.message ?? ''})` : ''}`,
            { group: report.asgName, data: { outcome: report.outcome } },
          );
        }
      }
      return result;
    };
  }

  /** Adds each answer `c`'s prober gets to the probe history (lost answers are not answers). */
  private answersRecorded(inner: Prober, c: Container, fn: 'gate' | 'protect'): Prober {
    return {
      probe: async (address, settings, opts) => {
        const result = await inner.probe(address, settings, opts);
        const inst = this.fleet.instanceAt(address);
        if (inst && c.alive()) {
          let answers = this.probeHistory.get(inst.id);
          if (!answers) this.probeHistory.set(inst.id, (answers = []));
          answers.push({ at: this.now(), status: result.status, fn, invocation: c.invocation });
        }
        return result;
      },
    };
  }

  /** Protect's Log: its info lines, forwarded when the simulation was given a log (see gateLog). */
  private protectLog(context: Record<string, unknown> = {}): ContextLog {
    const info =
      this.log === silentLog
        ? () => undefined
        : (message: string, extra: Record<string, unknown> = {}) =>
            this.log.info(message, { ...context, ...extra });
    return {
      ...silentLog,
      info,
      child: (fields) => this.protectLog({ ...context, ...fields }),
      forInvocation: (c) =>
        c.awsRequestId
          ? this.protectLog({ ...context, requestId: c.awsRequestId })
          : this.protectLog(context),
    };
  }

  /**
   * The gate's Log: notes each step's decision, and forwards every line when the simulation
   * was given a log. A ContextLog, so that the gate's child loggers (a step's instance, group
   * and hook; an invocation's request id) carry their fields without copying them into every
   * line nobody reads.
   */
  private gateLog(context: Record<string, unknown> = {}): ContextLog {
    const forward = this.log !== silentLog;
    const at =
      (level: keyof Log) =>
      (message: string, extra: Record<string, unknown> = {}) => {
        const noted =
          message === 'gate decision' ||
          message === 'gate stopped' ||
          message === 'unreadable gate input';
        if (!noted && !forward) return;
        const fields = { ...context, ...extra };
        if (message === 'gate decision' || message === 'gate stopped') {
          const instanceId = typeof fields.instanceId === 'string' ? fields.instanceId : undefined;
          this.steps.push({
            at: this.now(),
            ...(instanceId ? { instanceId } : {}),
            decision: message === 'gate stopped' ? `stopped` : String(fields.decision),
            reason: String(fields.reason ?? ''),
          });
          this.journal.add(
            'gate-step',
            `gate ${instanceId ?? '?'}: ${message === 'gate stopped' ? 'stopped' : String(fields.decision)}: ${String(fields.reason ?? '')}`,
            { ...(instanceId ? { instanceId } : {}), data: { decision: fields.decision } },
          );
        } else if (message === 'unreadable gate input') {
          this.journal.add('fault', `the gate refused an input: ${String(fields.detail ?? '')}`, {
            data: { rejected: true },
          });
        }
        if (forward) this.log[level](message, fields);
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (fields) => this.gateLog({ ...context, ...fields }),
      forInvocation: (c) =>
        c.awsRequestId
          ? this.gateLog({ ...context, requestId: c.awsRequestId })
          : this.gateLog(context),
    };
  }

  /**
   * A new deployment of the gate (a setting changed in the stack): containers started from
   * now on read `env`; running invocations finish on the old code.
   */
  redeployGate(env: Record<string, string>, why: string): void {
    this.gateEnv = { ...this.gateEnv, ...env };
    this.gate.retire();
    this.journal.add('setting', `gate redeployed: ${why}`, { data: { fault: 'redeploy', env } });
  }

  /** Replace how probes are made (per container): real HTTP workers in the sandbox. */
  useProber(factory: (c: Container, fn: 'gate' | 'protect') => Prober): void {
    this.proberFactory = factory;
  }

  /** Start protect's schedule. */
  startProtect(): void {
    if (this.options.protect === false || this.protectTimer) return;
    const o = this.options.protect ?? {};
    const intervalMs = (o.intervalSeconds ?? this.options.deployed.protect.rateMinutes * 60) * 1000;
    this.protectTimer = this.scheduler.every(
      intervalMs,
      'protect',
      () => {
        void this.protect.invoke(
          { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
          'schedule',
        );
      },
      this.scheduler.now() + (o.firstAtSeconds ?? 0) * 1000,
    );
  }

  stopProtect(): void {
    this.protectTimer?.cancel();
    this.protectTimer = undefined;
  }

  /** One protect invocation now; resolves when it ends. */
  async protectOnce(): Promise<void> {
    const done = this.protect.invoke({}, 'manual');
    await this.runUntilDone(done);
  }

  /** Run the clock until `promise` settles (or nothing is left to run). */
  async runUntilDone<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    void promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    await preloadOnDemandSdks();
    await this.scheduler.runUntil(Number.MAX_SAFE_INTEGER, {
      stop: () => settled || this.fatal !== undefined,
    });
    this.throwIfFatal();
    return promise;
  }

  /** Nothing left to happen for the gate: no action waiting, no message in flight. */
  settled(): boolean {
    return (
      this.fleet.activeActions().length === 0 &&
      this.events.inFlight() === 0 &&
      this.recheckQueue.inFlight() === 0 &&
      this.gate.running() === 0
    );
  }

  async runFor(ms: number): Promise<void> {
    await this.runUntil(this.now() + ms);
  }

  async runUntil(timeMs: number): Promise<void> {
    await preloadOnDemandSdks();
    await this.scheduler.runUntil(timeMs, { stop: () => this.fatal !== undefined });
    this.throwIfFatal();
  }

  /** Run until settled(), or until `limitMs` of virtual time has passed. Returns settled(). */
  async runUntilSettled(limitMs: number): Promise<boolean> {
    const end = this.now() + limitMs;
    await preloadOnDemandSdks();
    await this.scheduler.runUntil(end, { stop: () => this.fatal !== undefined || this.settled() });
    this.throwIfFatal();
    return this.settled();
  }

  private throwIfFatal(): void {
    if (this.fatal === undefined && this.scheduler.failures.length > 0)
      this.fatal = this.scheduler.failures[0];
    if (this.fatal !== undefined) throw this.fatal;
  }
}

/**
 * Start a real HTTP worker on loopback for every instance (and every instance launched
 * later) and make protect and the gate probe them with the real HTTP prober, loopback-only.
 * Virtual time stands still while a real request is in flight.
 */
export async function attachLoopbackWorkers(
  sim: Simulation,
  options: LoopbackWorkerOptions = {},
): Promise<LoopbackWorkers> {
  const workers = await startLoopbackWorkers(sim.fleet, sim.journal, options);
  const http = workers.prober(createHttpProber({ loopbackOnly: true }));
  const real: Prober = {
    probe: (address, settings, opts) =>
      sim.scheduler.track(http.probe(address, { ...settings, metricsPort: workers.port }, opts)),
  };
  const recorded = recordProbes(real, { fleet: sim.fleet, lastProbe: sim.lastProbe, now: sim.now });
  sim.useProber((c) =>
    recordProbes(recorded, {
      fleet: sim.fleet,
      lastProbe: c.lastProbes as Map<string, ProbeRecord>,
      now: sim.now,
    }),
  );
  return workers;
}
