/**
 * One gate step: normalise the input → observe (probe the instance, or ask how the
 * pre-termination command is doing) → decide (pure, decide.ts) → carry the decision out.
 *
 * Carrying out, and why in this order:
 *   hold / wait-ssm  RecordLifecycleActionHeartbeat, THEN schedule the recheck. A recheck is
 *                    never sent for an action whose heartbeat failed: the step throws and
 *                    the delivery is retried, so at most one chain continues per delivery.
 *   run-ssm          heartbeat, check the document and the instance's SSM agent, send the
 *                    command, schedule the recheck carrying the command id (never sleep).
 *   terminal         CompleteLifecycleAction, THEN notify. "No active Lifecycle Action"
 *                    ('gone') on heartbeat or complete means someone else finished it (a
 *                    duplicate chain, the hook's timeout): stop quietly, send no notice —
 *                    so a duplicate delivery never produces a second "released".
 * A failed Publish is logged and never changes or fails the lifecycle decision.
 */
import { ConfigError, ThemisError, errorMessage } from '../errors.js';
import type {
  Clock,
  GroupDirectory,
  InstanceAddresses,
  LifecycleActions,
  LifecycleResult,
  Log,
  Notifications,
  Prober,
  ProbeResult,
  Rechecks,
  RemoteCommands,
} from '../ports.js';
import type { Timers } from '../time.js';
import { GATE_ENV, type GateConfig } from './config.js';
import { decide, type Decision, type TerminalKind } from './decide.js';
import { normaliseInput, type InputSource } from './input.js';
import { buildNotice, type NoticeEvent, type NoticeFacts } from './notices.js';
import { resolveGateSettings } from './settings.js';
import { encodeRecheck, initialState, type LifecycleAction, type StepState } from './state.js';

export interface GateDeps {
  groups: GroupDirectory;
  addresses: InstanceAddresses;
  lifecycle: LifecycleActions;
  /** Absent when THEMIS_TOPIC_ARN is not set: outcomes are logged only. */
  notifications?: Notifications;
  /** Needed to wait; a step that must wait without it throws a ConfigError. */
  rechecks?: Rechecks;
  /** Needed only when a pre-termination command is configured. */
  commands?: RemoteCommands;
  prober: Prober;
  log: Log;
  clock: Clock;
  /** [0, 1), for the recheck jitter. */
  random: () => number;
  config: GateConfig;
  /**
   * Timers for deadlines (default realTimers); the simulator passes its virtual ones. The
   * deadlines run on these, so `timers.now()` and `clock()` should be the same clock.
   */
  timers?: Timers;
}

export interface StepOptions {
  /** Milliseconds left in this invocation (Lambda's getRemainingTimeInMillis). */
  remainingMs?: () => number;
}

export interface StepOutcome {
  /**
   * ignored   the input is not a terminate lifecycle action (test notification, …);
   * held      a recheck is scheduled (hold, run-ssm, wait-ssm; in a dry run too);
   * completed CompleteLifecycleAction succeeded;
   * gone      the action had already ended (or its hook no longer exists): chain stopped;
   * observed  dry run: the step would have completed the action, or the hook has expired;
   *           the chain stops.
   */
  outcome: 'ignored' | 'held' | 'completed' | 'gone' | 'observed';
  reason: string;
  source: InputSource;
  decision?: Decision['kind'];
  instanceId?: string;
  groupName?: string;
  result?: LifecycleResult;
  delaySeconds?: number;
  attempt?: number;
  dryRun?: boolean;
  /** The notice this step tried to publish (set whether or not Publish succeeded; never without a topic). */
  notice?: NoticeEvent;
}

/** Not enough of the invocation is left to probe and still heartbeat or complete in time. */
export class OutOfTimeError extends ThemisError {
  override name = 'OutOfTimeError';
}

/**
 * Time kept back after the probe for the calls that carry the decision out (heartbeat +
 * SendMessage, or Complete + Publish), each of which may retry under throttling.
 */
export const STEP_RESERVE_MS = 5_000;
/** Below this a probe is not worth starting: the step is left for the redelivery. */
const MIN_PROBE_MS = 200;

const NOTICE_FOR: Record<TerminalKind, NoticeEvent> = {
  release: 'released',
  'release-unreachable': 'released-unreachable',
  deadline: 'deadline',
  'ssm-failed': 'ssm-failed',
};

export async function gateStep(
  input: unknown,
  deps: GateDeps,
  options: StepOptions = {},
): Promise<StepOutcome> {
  const { log, config } = deps;
  const startedMs = deps.clock();
  const parsed = normaliseInput(input);
  if (parsed.kind === 'ignore') {
    log.info('gate input ignored', {
      source: parsed.source,
      viaSns: parsed.viaSns,
      reason: parsed.reason,
      ...(parsed.groupName ? { group: parsed.groupName } : {}),
    });
    return { outcome: 'ignored', reason: parsed.reason, source: parsed.source };
  }

  const { action, source } = parsed;
  const where = { instanceId: action.instanceId, group: action.groupName, hook: action.hookName };
  const base = { source, instanceId: action.instanceId, groupName: action.groupName };

  let state = parsed.state;
  if (!state) {
    const hook = await deps.lifecycle.describeHook(action.groupName, action.hookName);
    if (!hook) {
      // Deleting a hook ends its outstanding actions (CONTINUE for terminating instances).
      const reason = 'the lifecycle hook no longer exists';
      log.warn('gate stopped', { ...where, reason });
      return { ...base, outcome: 'gone', reason, attempt: 1 };
    }
    state = initialState(Math.min(parsed.eventTimeMs ?? startedMs, startedMs), {
      heartbeatTimeoutSeconds: hook.heartbeatTimeoutSeconds,
      globalTimeoutSeconds: hook.globalTimeoutSeconds,
    });
  }

  const [group] = await deps.groups.describeGroups([action.groupName]);
  const { settings, problems } = resolveGateSettings(
    config.settings,
    group?.tags ?? {},
    action.metadata,
  );
  const dryRun = settings.dryRun;
  const step = new Step(deps, action, state, dryRun, base);
  if (problems.length) {
    const reason = `ignored bad settings, using the defaults for them: ${problems
      .map((p) => p.message)
      .join('; ')}`;
    log.error('bad gate settings', { ...where, problems, attempt: state.attempt });
    // Once per action, not on every recheck.
    if (state.attempt === 1) await step.notify('error', { reason });
  }

  let probe: ProbeResult | undefined;
  let command: { state: 'pending' | 'success' | 'failed'; detail?: string } | undefined;
  if (state.ssm) {
    command = await requireCommands(deps).status(state.ssm.commandId, action.instanceId);
    step.facts.commandId = state.ssm.commandId;
  } else {
    const timeoutMs = probeBudgetMs(settings.timeoutMs, options.remainingMs);
    const addresses = await deps.addresses.privateAddresses([action.instanceId]);
    const address = addresses.get(action.instanceId);
    probe = address
      ? await deps.prober.probe(address, { ...settings, timeoutMs })
      : { status: 'unknown', reason: 'no private address (instance gone?)', latencyMs: 0 };
    step.facts.probe = { status: probe.status, ...(probe.reason ? { reason: probe.reason } : {}) };
  }

  const nowMs = deps.clock();
  const decision = decide({
    state,
    probe,
    command,
    config,
    dryRun,
    nowMs,
    random: deps.random(),
  });
  step.nowMs = nowMs;
  log.info('gate decision', {
    ...where,
    source,
    decision: decision.kind,
    reason: decision.reason,
    attempt: state.attempt,
    waitedSeconds: step.waitedSeconds(),
    ...(probe ? { probe: probe.status } : {}),
    ...(probe?.reason ? { probeReason: probe.reason } : {}),
    ...(command ? { command: command.state } : {}),
    ...('delaySeconds' in decision ? { delaySeconds: decision.delaySeconds } : {}),
    ...('result' in decision ? { result: decision.result } : {}),
    ...(dryRun ? { dryRun } : {}),
  });

  switch (decision.kind) {
    case 'hold':
    case 'wait-ssm':
      return step.hold(decision, decision.kind === 'hold' && decision.notifyHolding);
    case 'run-ssm':
      return step.runCommand(decision);
    case 'expired': {
      const notice = await step.notify('deadline', { reason: decision.reason, expired: true });
      return step.outcome('observed', decision, notice ? { notice } : {});
    }
    default:
      return step.finish(decision);
  }
}

/** The carrying-out half of a step: one action, one decision. */
class Step {
  readonly facts: Partial<NoticeFacts> = {};
  nowMs: number;
  private readonly ref;

  constructor(
    private readonly deps: GateDeps,
    private readonly action: LifecycleAction,
    private readonly state: StepState,
    private readonly dryRun: boolean,
    private readonly base: Pick<StepOutcome, 'source' | 'instanceId' | 'groupName'>,
  ) {
    this.nowMs = deps.clock();
    this.ref = {
      groupName: action.groupName,
      hookName: action.hookName,
      instanceId: action.instanceId,
      token: action.token,
    };
  }

  waitedSeconds(): number {
    return Math.max(0, Math.round((this.nowMs - this.state.firstSeenMs) / 1000));
  }

  outcome(
    outcome: StepOutcome['outcome'],
    decision: Decision,
    extra: Partial<StepOutcome> = {},
  ): StepOutcome {
    return {
      ...this.base,
      outcome,
      reason: decision.reason,
      decision: decision.kind,
      attempt: this.state.attempt,
      dryRun: this.dryRun,
      ...('result' in decision ? { result: decision.result } : {}),
      ...extra,
    };
  }

  /** Heartbeat (not in a dry run), then schedule the next step. */
  async hold(
    decision: Extract<Decision, { kind: 'hold' | 'wait-ssm' }>,
    notifyHolding: boolean,
  ): Promise<StepOutcome> {
    const rechecks = requireRechecks(this.deps);
    if (!this.dryRun && (await this.heartbeat()) === 'gone') return this.gone(decision);
    await rechecks.schedule(encodeRecheck(this.action, decision.next), decision.delaySeconds);
    const notice = notifyHolding
      ? await this.notify('holding', { reason: decision.reason })
      : undefined;
    return this.outcome('held', decision, {
      delaySeconds: decision.delaySeconds,
      ...(notice ? { notice } : {}),
    });
  }

  /** Start the pre-termination command; its status is read on the next steps. */
  async runCommand(decision: Extract<Decision, { kind: 'run-ssm' }>): Promise<StepOutcome> {
    const { config, log } = this.deps;
    const ssm = config.ssm;
    if (!ssm) throw new Error('run-ssm decided without a configured command');
    const rechecks = requireRechecks(this.deps);
    const commands = requireCommands(this.deps);
    if ((await this.heartbeat()) === 'gone') return this.gone(decision);

    const cannotStart = async (why: string) =>
      this.finish({
        kind: 'ssm-failed',
        result: config.onSsmFailure,
        reason: `${ssm.documentName} could not be started: ${why}`,
      });
    if (!(await commands.documentExists(ssm.documentName))) {
      return cannotStart('the document does not exist');
    }
    if (!(await commands.isManaged(this.action.instanceId))) {
      return cannotStart('the instance is not managed by SSM (no agent online)');
    }
    const commandId = await commands.send(
      this.action.instanceId,
      ssm.documentName,
      ssm.parameters,
      ssm.timeoutSeconds,
    );
    log.info('pre-termination command sent', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      document: ssm.documentName,
      commandId,
    });
    // If this SendMessage fails the step is retried from the old state and the command is
    // sent again: pre-termination commands must tolerate running twice.
    const next: StepState = { ...decision.next, ssm: { commandId, sentAtMs: this.deps.clock() } };
    await rechecks.schedule(encodeRecheck(this.action, next), decision.delaySeconds);
    return this.outcome('held', decision, { delaySeconds: decision.delaySeconds });
  }

  /** Complete the lifecycle action (in a dry run: only say what would happen). */
  async finish(decision: Extract<Decision, { kind: TerminalKind }>): Promise<StepOutcome> {
    const event = NOTICE_FOR[decision.kind];
    if (this.dryRun) {
      const notice = await this.notify(event, {
        reason: decision.reason,
        result: decision.result,
      });
      return this.outcome('observed', decision, notice ? { notice } : {});
    }
    const answer = await this.deps.lifecycle.complete(this.ref, decision.result);
    if (answer === 'gone') return this.gone(decision);
    this.deps.log.info('lifecycle action completed', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      hook: this.action.hookName,
      decision: decision.kind,
      result: decision.result,
      reason: decision.reason,
      waitedSeconds: this.waitedSeconds(),
      attempt: this.state.attempt,
    });
    const notice = await this.notify(event, { reason: decision.reason, result: decision.result });
    return this.outcome('completed', decision, notice ? { notice } : {});
  }

  /**
   * Publish a notice; a failure is logged and never fails the step. Returns the event when a
   * Publish was attempted (undefined without a topic).
   */
  async notify(event: NoticeEvent, extra: Partial<NoticeFacts>): Promise<NoticeEvent | undefined> {
    const { notifications, log } = this.deps;
    const facts: NoticeFacts = {
      event,
      groupName: this.action.groupName,
      instanceId: this.action.instanceId,
      hookName: this.action.hookName,
      reason: '',
      waitedSeconds: this.waitedSeconds(),
      checks: this.state.attempt,
      dryRun: this.dryRun,
      time: new Date(this.nowMs).toISOString(),
      ...this.facts,
      ...extra,
    };
    if (!notifications) return undefined;
    try {
      await notifications.publish(buildNotice(facts));
    } catch (err) {
      log.error('notification not sent; the lifecycle decision stands', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        event,
        error: errorMessage(err),
      });
    }
    return event;
  }

  private async heartbeat(): Promise<'recorded' | 'gone'> {
    return this.deps.lifecycle.recordHeartbeat(this.ref);
  }

  private gone(decision: Decision): StepOutcome {
    const reason = 'the lifecycle action has already ended (completed elsewhere or timed out)';
    this.deps.log.info('gate stopped', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      hook: this.action.hookName,
      decision: decision.kind,
      reason,
      attempt: this.state.attempt,
    });
    return { ...this.outcome('gone', decision), reason };
  }
}

function probeBudgetMs(timeoutMs: number, remainingMs?: () => number): number {
  if (!remainingMs) return timeoutMs;
  const budget = remainingMs() - STEP_RESERVE_MS;
  if (budget < MIN_PROBE_MS) {
    throw new OutOfTimeError(
      `only ${remainingMs()} ms left in this invocation; leaving the step for a retry`,
    );
  }
  return Math.min(timeoutMs, budget);
}

function requireRechecks(deps: GateDeps): Rechecks {
  if (!deps.rechecks) {
    throw new ConfigError(GATE_ENV.recheckQueueUrl, 'no recheck queue: the gate cannot wait');
  }
  return deps.rechecks;
}

function requireCommands(deps: GateDeps): RemoteCommands {
  if (!deps.commands) {
    throw new ConfigError(GATE_ENV.ssmDocument, 'a command is configured but SSM is not wired');
  }
  return deps.commands;
}
