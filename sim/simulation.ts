/**
 * One simulated world: the virtual clock, the Auto Scaling groups, the services around them,
 * and the real themis code driven on top —
 *   protect: lib/protect/scan.ts `scanTarget` on its schedule, one call per target group;
 *   gate:    lib/gate/handler.ts `createGateHandler` (which runs lib/gate/step.ts
 *            `gateStep`) for every lifecycle event, invoked the way AWS invokes it:
 *            EventBridge → Lambda asynchronously (the event object itself; a throw is retried
 *            by Lambda twice, then dead-lettered), and the recheck queue → Lambda as an SQS
 *            event with one record (a batch item failure is redelivered after the visibility
 *            timeout, dead-lettered after maxReceiveCount).
 *
 * Everything is seeded: the same options and seed give the same history, call for call.
 *
 * For benchmarks: `sim.calls` counts every AWS operation by API name (snapshot()/since());
 * `sim.fleet.actions` holds each lifecycle action with its start and end; `sim.steps` each
 * gate invocation; `sim.scans` each protect scan's report.
 */
import type { Target } from '../lib/config.js';
import { mergeSettings, type TargetSettings } from '../lib/config.js';
import { AddressNotAllowedError, errorMessage } from '../lib/errors.js';
import { parseGateEnv, type GateConfig } from '../lib/gate/config.js';
import { createGateHandler } from '../lib/gate/handler.js';
import type { GateDeps } from '../lib/gate/step.js';
import { silentLog } from '../lib/log.js';
import type { Log, Prober } from '../lib/ports.js';
import { createHttpProber } from '../lib/probe.js';
import { scanTarget, type GroupReport } from '../lib/protect/scan.js';
import { ApiCalls } from './api-calls.js';
import { NO_FAULTS, SimulatedCrash, type FaultRates } from './faults.js';
import { Fleet, type FleetOptions, type GroupSpec, type LifecycleEvent } from './fleet.js';
import { Journal } from './journal.js';
import {
  startLoopbackWorkers,
  type LoopbackWorkerOptions,
  type LoopbackWorkers,
} from './loopback-workers.js';
import {
  createSimPorts,
  type CallGuard,
  type PortContext,
  type ProbeRecord,
  type SimPorts,
  type SimWorld,
  type Unprotection,
} from './ports.js';
import { createScheduleProber, recordProbes } from './probers.js';
import { Random } from './random.js';
import { Scheduler } from './scheduler.js';
import {
  DeliveryChannel,
  SimCommands,
  SimTopic,
  asyncInvokeRetries,
  sqsRedelivery,
  type CommandsOptions,
  type ConsumerVerdict,
  type Delivery,
} from './services.js';

export const SIM_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-sim-recheck';
export const SIM_TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:themis-sim-outcomes';

export interface GateOptions {
  /**
   * The gate function's environment (THEMIS_*), parsed with the real parseGateEnv. The
   * queue URL and topic ARN default to simulated ones; set THEMIS_TOPIC_ARN to '' for none.
   */
  env?: Record<string, string>;
  /** Lambda's asynchronous retries of the EventBridge invocation (default [60, 120] s). */
  eventRetryDelaysSeconds?: number[];
  /** EventBridge delivery latency, uniform in [min, max] ms (default [200, 2000]). */
  eventLatencyMs?: [number, number];
  /** The recheck queue's VisibilityTimeout (default 360 s, as serverless.yml sets it). */
  visibilityTimeoutSeconds?: number;
  /** The recheck queue's redrive maxReceiveCount (default 5, as serverless.yml sets it). */
  maxReceiveCount?: number;
  /**
   * Change the dependencies a gate step gets — the hook for showing that the invariant
   * checker catches a broken gate. Never used to make a history pass.
   */
  wrapDeps?: (deps: GateDeps, sim: Simulation) => GateDeps;
  /** false: lifecycle events go nowhere (a group without themis's gate). */
  enabled?: boolean;
}

export interface ProtectOptions {
  /** Seconds between scans (default 60: `rate(1 minute)`). */
  intervalSeconds?: number;
  /** First scan this many seconds after the start (default: at once). */
  firstAtSeconds?: number;
  /** Settings for every target (over the defaults), e.g. { metricsPort }. */
  settings?: Partial<TargetSettings>;
  /** Probes in flight at once. */
  concurrency?: number;
  /** Wrap the protect dependencies (like GateOptions.wrapDeps). */
  wrapPorts?: (ports: SimPorts, sim: Simulation) => SimPorts;
}

export interface SimulationOptions {
  seed: number;
  groups: GroupSpec[];
  startMs?: number;
  work?: FleetOptions['work'];
  fleet?: Pick<
    FleetOptions,
    'launchSeconds' | 'reconcileDelaySeconds' | 'shutdownSeconds' | 'addressOf'
  >;
  faults?: Partial<FaultRates>;
  gate?: GateOptions;
  /** false: no protect scans at all. */
  protect?: ProtectOptions | false;
  commands?: CommandsOptions;
  /** The prober protect and the gate use (default: the work schedules, no network). */
  prober?: Prober;
  /** Where protect's and the gate's log lines go (default: nowhere). */
  log?: Log;
}

export interface StepRecord {
  at: number;
  channel: 'event' | 'recheck';
  messageId: string;
  instanceId?: string;
  receiveCount: number;
  duplicate: boolean;
  /** The gate's decision (from its 'gate decision' log line), if it got that far. */
  decision?: string;
  reason?: string;
  /** ok: done; retry: failed, left for redelivery; crashed: died mid-way (then redelivered). */
  verdict: 'ok' | 'retry' | 'crashed' | 'drop';
  error?: string;
  /** For a crashed step: the last call that took effect ('CompleteLifecycleAction', 'probe', …). */
  crashedAfter?: string;
}

export interface ScanRecord {
  at: number;
  report: GroupReport;
}

/** Dies after the n-th external call of one step (see FaultRates.stepCrash). */
class StepGuard implements CallGuard {
  calls = 0;
  crashed = false;
  /** The call that was the last one to take effect before the crash. */
  crashedAfter?: string;
  constructor(private readonly crashAfter: number | undefined) {}
  before(_api: string): void {
    if (this.crashed) throw new SimulatedCrash(this.calls);
  }
  after(api: string): void {
    this.calls++;
    if (this.crashAfter !== undefined && this.calls >= this.crashAfter) {
      this.crashed = true;
      this.crashedAfter = api;
      throw new SimulatedCrash(this.calls);
    }
  }
}

export class Simulation implements SimWorld {
  readonly scheduler: Scheduler;
  readonly random: Random;
  readonly journal: Journal;
  readonly fleet: Fleet;
  readonly calls = new ApiCalls();
  readonly faults: FaultRates;
  readonly faultRandom: Random;
  readonly topic = new SimTopic();
  readonly events: DeliveryChannel<LifecycleEvent>;
  readonly recheckQueue: DeliveryChannel<string>;
  readonly commands: SimCommands;
  readonly lastProbe = new Map<string, ProbeRecord>();
  readonly unprotections: Unprotection[] = [];
  readonly steps: StepRecord[] = [];
  readonly scans: ScanRecord[] = [];
  private gateSettings: GateConfig;
  /** Set when a probe was refused by the loopback guard: the run stops loudly. */
  fatal?: unknown;

  private prober: Prober;
  private readonly gateRandom: Random;
  private readonly log: Log;
  private protectTimer?: { cancel(): void };
  private probePort?: number;

  constructor(readonly options: SimulationOptions) {
    this.scheduler = new Scheduler(options.startMs);
    this.random = new Random(options.seed);
    this.journal = new Journal(this.scheduler.now);
    this.faults = { ...NO_FAULTS, ...options.faults };
    this.faultRandom = this.random.fork('faults');
    this.gateRandom = this.random.fork('gate-jitter');
    this.log = options.log ?? silentLog;
    this.fleet = new Fleet({
      scheduler: this.scheduler,
      random: this.random.fork('fleet'),
      journal: this.journal,
      ...options.fleet,
      ...(options.work ? { work: options.work } : {}),
    });
    this.commands = new SimCommands(
      this.scheduler,
      this.random.fork('ssm'),
      this.fleet,
      options.commands,
    );

    const gate = options.gate ?? {};
    this.gateSettings = parseGateEnv({
      THEMIS_RECHECK_QUEUE_URL: SIM_QUEUE_URL,
      THEMIS_TOPIC_ARN: SIM_TOPIC_ARN,
      ...gate.env,
    });
    const deliveries = this.random.fork('deliveries');
    this.events = new DeliveryChannel(this.scheduler, deliveries, this.journal, {
      name: 'event',
      retryDelayMs: asyncInvokeRetries(gate.eventRetryDelaysSeconds),
      duplicateRate: this.faults.duplicateEvent,
      duplicateSpreadMs: 30_000,
    });
    this.recheckQueue = new DeliveryChannel(this.scheduler, deliveries, this.journal, {
      name: 'recheck',
      retryDelayMs: sqsRedelivery(gate.visibilityTimeoutSeconds ?? 360, gate.maxReceiveCount ?? 5),
      duplicateRate: this.faults.duplicateRecheck,
      duplicateSpreadMs: 10_000,
    });
    if (gate.enabled !== false) {
      const [minLatency, maxLatency] = gate.eventLatencyMs ?? [200, 2000];
      this.fleet.onLifecycleEvent((event) =>
        this.events.send(event, deliveries.int(minLatency, maxLatency), event.detail.EC2InstanceId),
      );
      this.events.consume((d) => this.invokeGate(d, 'event'));
      this.recheckQueue.consume((d) => this.invokeGate(d, 'recheck'));
    }

    this.prober = recordProbes(options.prober ?? createScheduleProber(this.fleet), this);
    for (const spec of options.groups) this.fleet.addGroup(spec);
  }

  now = (): number => this.scheduler.now();

  /** The gate's configuration, as parseGateEnv read it (plus the workers' port, if any). */
  get gateConfig(): GateConfig {
    return this.gateSettings;
  }

  /** The role interfaces over this world (optionally tied to one gate step). */
  ports(ctx: PortContext = {}): SimPorts {
    return createSimPorts(this, ctx);
  }

  /** Replace the prober. Probes stay recorded. */
  useProber(prober: Prober): void {
    this.prober = recordProbes(prober, this);
  }

  /**
   * Probe real loopback HTTP workers from now on: protect and the gate use `prober` (the real
   * HTTP prober, wrapped by the worker pool) and ask `metricsPort`.
   */
  useHttpWorkers(prober: Prober, metricsPort: number): void {
    this.useProber(prober);
    this.probePort = metricsPort;
    this.gateSettings = {
      ...this.gateSettings,
      settings: { ...this.gateSettings.settings, metricsPort },
    };
  }

  /** The protect target for a group, as the handler would build it with these settings. */
  target(groupName: string, settings: Partial<TargetSettings> = {}): Target {
    const protect = this.options.protect || {};
    return {
      asgName: groupName,
      region: this.fleet.region,
      ...mergeSettings(
        protect.settings ?? {},
        this.probePort ? { metricsPort: this.probePort } : {},
        settings,
      ),
    };
  }

  /** Start protect's schedule (every intervalSeconds, all groups). */
  startProtect(): void {
    if (this.options.protect === false || this.protectTimer) return;
    const o = this.options.protect ?? {};
    const intervalMs = (o.intervalSeconds ?? 60) * 1000;
    this.protectTimer = this.scheduler.every(
      intervalMs,
      'protect',
      async () => {
        await this.protectOnce();
      },
      this.scheduler.now() + (o.firstAtSeconds ?? 0) * 1000,
    );
  }

  stopProtect(): void {
    this.protectTimer?.cancel();
    this.protectTimer = undefined;
  }

  /** One protect run now: scanTarget for every group, in order. */
  async protectOnce(): Promise<GroupReport[]> {
    const o = this.options.protect || {};
    const ports = o.wrapPorts ? o.wrapPorts(this.ports(), this) : this.ports();
    const reports: GroupReport[] = [];
    for (const name of this.fleet.groupNames()) {
      const report = await scanTarget(this.target(name), {
        groups: ports.groups,
        addresses: ports.addresses,
        protection: ports.protection,
        prober: this.prober,
        log: this.log,
        clock: this.now,
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      });
      this.scans.push({ at: this.now(), report });
      const changes = [
        report.protected.length ? `protected ${report.protected.join(', ')}` : '',
        report.unprotected.length ? `unprotected ${report.unprotected.join(', ')}` : '',
        report.failed.length ? `${report.failed.length} changes failed` : '',
      ].filter(Boolean);
      this.journal.add(
        'scan',
        `protect ${name}: ${Object.keys(report.busy).length} busy, ${Object.keys(report.idle).length} idle, ${Object.keys(report.error).length} unknown${changes.length ? `; ${changes.join('; ')}` : ''}${report.outcome !== 'ok' ? ` (${report.outcome}: ${report.message ?? ''})` : ''}`,
        { group: name, data: { outcome: report.outcome } },
      );
      reports.push(report);
    }
    return reports;
  }

  /** Nothing left to happen for the gate: no action waiting, no message in flight. */
  settled(): boolean {
    return (
      this.fleet.activeActions().length === 0 &&
      this.events.inFlight === 0 &&
      this.recheckQueue.inFlight === 0
    );
  }

  async runFor(ms: number): Promise<void> {
    await this.scheduler.runFor(ms, { stop: () => this.fatal !== undefined });
    this.throwIfFatal();
  }

  async runUntil(timeMs: number): Promise<void> {
    await this.scheduler.runUntil(timeMs, { stop: () => this.fatal !== undefined });
    this.throwIfFatal();
  }

  /** Run until settled(), or until `limitMs` of virtual time has passed. Returns settled(). */
  async runUntilSettled(limitMs: number): Promise<boolean> {
    const end = this.now() + limitMs;
    await this.scheduler.runUntil(end, {
      stop: () => this.fatal !== undefined || this.settled(),
    });
    this.throwIfFatal();
    return this.settled();
  }

  private throwIfFatal(): void {
    if (this.fatal !== undefined) throw this.fatal;
  }

  /** One Lambda invocation of the gate for one delivery, with its faults. */
  private async invokeGate(
    d: Delivery<LifecycleEvent | string>,
    channel: 'event' | 'recheck',
  ): Promise<ConsumerVerdict> {
    const crashAfter = this.faultRandom.chance(this.faults.stepCrash)
      ? this.faultRandom.int(1, this.faults.crashWithinCalls)
      : undefined;
    const guard = new StepGuard(crashAfter);
    const ports = this.ports({ ...(d.instanceId ? { instanceId: d.instanceId } : {}), guard });
    const record: StepRecord = {
      at: this.now(),
      channel,
      messageId: d.messageId,
      ...(d.instanceId ? { instanceId: d.instanceId } : {}),
      receiveCount: d.receiveCount,
      duplicate: d.duplicate,
      verdict: 'ok',
    };
    const log = this.stepLog(record);
    const prober = this.prober;
    let deps: GateDeps = {
      groups: ports.groups,
      addresses: ports.addresses,
      lifecycle: ports.lifecycle,
      ...(this.gateConfig.topicArn ? { notifications: ports.notifications } : {}),
      rechecks: ports.rechecks,
      commands: ports.commands,
      prober: {
        probe: async (address, settings) => {
          guard.before('probe');
          let outcome:
            | { ok: true; value: Awaited<ReturnType<Prober['probe']>> }
            | { ok: false; error: unknown };
          try {
            outcome = { ok: true, value: await prober.probe(address, settings) };
          } catch (err) {
            if (err instanceof AddressNotAllowedError) this.fatal = err;
            outcome = { ok: false, error: err };
          }
          // A crash right after the probe: the answer is lost with the process.
          guard.after('probe');
          if (outcome.ok) return outcome.value;
          throw outcome.error;
        },
      },
      log,
      clock: this.now,
      random: this.gateRandom.next,
      config: this.gateConfig,
    };
    if (this.options.gate?.wrapDeps) deps = this.options.gate.wrapDeps(deps, this);
    const handler = createGateHandler(deps);
    let failed = false;
    try {
      if (channel === 'event') {
        await handler(d.body);
      } else {
        const answer = await handler({
          Records: [{ messageId: d.messageId, body: d.body as string, eventSource: 'aws:sqs' }],
        });
        failed = !!answer && 'batchItemFailures' in answer && answer.batchItemFailures.length > 0;
      }
    } catch (err) {
      failed = true;
      record.error = errorMessage(err);
    }
    if (guard.crashed) {
      record.verdict = 'crashed';
      record.error = `died after call ${guard.calls} (${guard.crashedAfter ?? '?'})`;
      if (guard.crashedAfter) record.crashedAfter = guard.crashedAfter;
      this.journal.add(
        'fault',
        `gate step for ${d.instanceId ?? '?'} died after call ${guard.calls}`,
        {
          ...(d.instanceId ? { instanceId: d.instanceId } : {}),
          data: { fault: 'crash', afterCall: guard.calls },
        },
      );
    } else if (failed && record.verdict !== 'drop') {
      record.verdict = 'retry';
    }
    this.steps.push(record);
    const decided = record.decision ? `${record.decision}: ${record.reason ?? ''}` : 'no decision';
    const what =
      record.verdict === 'ok'
        ? decided
        : `${decided} — FAILED (${record.error ?? record.verdict}), left for redelivery`;
    this.journal.add(
      'gate-step',
      `gate ${d.instanceId ?? '?'} (${channel} #${d.receiveCount}${d.duplicate ? ', duplicate' : ''}): ${what}`,
      {
        ...(d.instanceId ? { instanceId: d.instanceId } : {}),
        data: { decision: record.decision, verdict: record.verdict, channel },
      },
    );
    if (record.verdict === 'drop') return failed ? 'retry' : 'ok';
    return record.verdict === 'ok' ? 'ok' : 'retry';
  }

  /** The gate's Log for one step: forwards every line, and notes the decision and failures. */
  private stepLog(record: StepRecord): Log {
    const at =
      (level: keyof Log) =>
      (message: string, fields: Record<string, unknown> = {}) => {
        if (message === 'gate decision') {
          record.decision = String(fields.decision);
          record.reason = String(fields.reason ?? '');
        } else if (message === 'gate stopped') {
          record.decision = `${String(fields.decision ?? 'stop')} (gone)`;
          record.reason = String(fields.reason ?? '');
        } else if (message.startsWith('gate step failed')) {
          record.error = String(fields.detail ?? message);
        } else if (message === 'unreadable gate input') {
          // The handler refuses it for good (or leaves an SQS record to the DLQ).
          record.verdict = 'drop';
          record.error = String(fields.detail ?? message);
        }
        this.log[level](message, fields);
      };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  }
}

export function createSimulation(options: SimulationOptions): Simulation {
  return new Simulation(options);
}

/**
 * Start a real HTTP worker on loopback for every instance (and every instance launched
 * later) and make protect and the gate probe them with the real HTTP prober, loopback-only.
 */
export async function attachLoopbackWorkers(
  sim: Simulation,
  options: LoopbackWorkerOptions = {},
): Promise<LoopbackWorkers> {
  const workers = await startLoopbackWorkers(sim.fleet, sim.journal, options);
  sim.useHttpWorkers(workers.prober(createHttpProber({ loopbackOnly: true })), workers.port);
  return workers;
}
