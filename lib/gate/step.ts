/**
 * One gate step: normalise the input → observe (probe the instance, or ask how the
 * pre-termination command is doing) → decide (pure, decide.ts) → carry the decision out.
 *
 * Time: every await of a step runs through the step's one Deadline (`deadline.run`), so the
 * step settles by it whatever AWS, SNS or the instance does; the probe is cut short so that
 * the calls after it still fit (budget.ts). A step that runs out of time throws, and its
 * record is retried — unless it had already scheduled its recheck (see `progress`).
 *
 * Carrying out, and why in this order:
 *   hold / wait-ssm  RecordLifecycleActionHeartbeat only when due (decide.ts), a "holding"
 *                    notice while none went out yet, THEN schedule the recheck. A recheck is
 *                    never sent for an action whose heartbeat failed: the step throws and the
 *                    delivery is retried. The SendMessage is the step's last call: once it
 *                    succeeded the chain has moved on, and the step counts as done.
 *   run-ssm          heartbeat, check the document and the instance's SSM agent, send the
 *                    command, schedule the recheck carrying the command id (never sleep).
 *   terminal         (cancel a command that ran too long,) CompleteLifecycleAction, THEN the
 *                    outcome notice. A failed Publish is retried through the recheck queue
 *                    (notice-retry.ts); if even that SendMessage fails, the step throws, and
 *                    its retry finds the action ended and sends the notice.
 *   'gone'           "No active Lifecycle Action" on heartbeat or complete: the action ended
 *                    without this step. The chain stops with an `ended` notice saying why
 *                    (hook deleted, timed out during an outage, completed elsewhere).
 */
import { LAUNCHING } from '../aws/facts.js';
import { childLog } from '../log.js';
import { observeForGate } from '../ecs/gate-source.js';
import { ConfigError, ThemisError, errorMessage, isTransientError } from '../errors.js';
import type {
  Clock,
  CommandState,
  EcsClusterControl,
  EcsClusterState,
  GroupDirectory,
  GroupTagWriter,
  HookInfo,
  InstanceAddresses,
  LifecycleActions,
  LifecycleResult,
  Log,
  Notifications,
  Prober,
  ProbeResult,
  ProbeSettings,
  Rechecks,
  RemoteCommands,
} from '../ports.js';
import { Deadline, DeadlineExceededError, realTimers, type Timers } from '../time.js';
import {
  AFTER_PROBE_RESERVE_MS,
  CALL_ALLOWANCE_MS,
  MAX_PROBE_TIMEOUT_MS,
  stepBudgetMs,
} from './budget.js';
import { GATE_ENV, type GateConfig } from './config.js';
import {
  actionPhase,
  chainDryRun,
  decide,
  goneCause,
  type Decision,
  type GoneCause,
  type TerminalKind,
} from './decide.js';
import { normaliseInput, type InputSource } from './input.js';
import {
  decideLaunch,
  ecsReadiness,
  LAUNCH_ABANDONS_TAG,
  launchOwnership,
  nextAbandonStreak,
  readAbandonStreak,
  streakSentence,
  type AbandonStreak,
} from './launch.js';
import {
  encodePendingNotice,
  noticeRetryDelaySeconds,
  withinNoticeRetryLimit,
  type PendingNotice,
} from './notice-retry.js';
import { buildNotice, outcomeId, type NoticeEvent, type NoticeFacts } from './notices.js';
import {
  releasedByThemis,
  resolveCompletion,
  retainedStateOf,
  type GroupRetention,
} from '../retain/decide.js';
import { resolveGateSettings } from './settings.js';
import {
  encodeRecheck,
  initialState,
  type CommandInFlight,
  type HookTiming,
  type LifecycleAction,
  type StepState,
} from './state.js';
import { passageOf, type Passage } from './warm-pool.js';

export interface GateDeps {
  groups: GroupDirectory;
  /**
   * DescribeAutoScalingGroups uncached, for the retention check before a RETAIN completes with
   * ABANDON (the handler's `groups` answers from a container cache). Default: `groups`.
   */
  freshGroups?: GroupDirectory;
  /** The launch gate's abandon count (launch.ts); absent: not recorded, only logged. */
  groupTags?: GroupTagWriter;
  addresses: InstanceAddresses;
  lifecycle: LifecycleActions;
  /** Absent when THEMIS_TOPIC_ARN is not set: outcomes are logged only. */
  notifications?: Notifications;
  /** The recheck queue: how a step waits (required, as THEMIS_RECHECK_QUEUE_URL is). */
  rechecks: Rechecks;
  /** Needed only when a pre-termination command is configured. */
  commands?: RemoteCommands;
  prober: Prober;
  /** ECS mode (a group naming its cluster): container instances and tasks. */
  ecs?: EcsClusterState & EcsClusterControl;
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
  /**
   * When the step must have settled: the handler's per-record budget inside the
   * invocation. Default: one worst-case step from now (budget.ts).
   */
  deadline?: Deadline;
  /** Filled in by the step as it goes; the handler reads it when the step fails. */
  progress?: StepProgress;
  /** The input is the message of an SNS event that invoked the gate directly. */
  viaSns?: boolean;
  /**
   * How the first step reads the hook's timing; the handler passes one that reuses the
   * container's recent answers (hooks are the same for every action of a scale-in). Default:
   * `deps.lifecycle.describeHook`. Never used to tell why an action ended (always asked).
   */
  describeHook?: LifecycleActions['describeHook'];
}

export interface StepProgress {
  /**
   * The step's recheck (or its pending notice) is on the queue: the chain has moved on, so
   * the record is done even if the step fails afterwards — a retry would start a second chain.
   */
  committed: boolean;
  /**
   * A first step's recheck of itself, set once its state is built (the hook read, the mode
   * pinned): what a failed direct first step hands to the recheck queue so that its retry
   * carries on in the same mode (handler.ts). Unset while nothing is pinned yet.
   */
  retryBody?: string;
}

export interface StepOutcome {
  /**
   * ignored        the input is not a terminate lifecycle action (test notification, …);
   * held           a recheck is scheduled (hold, run-ssm, wait-ssm; in a dry run too);
   * completed      CompleteLifecycleAction succeeded;
   * gone           the action had already ended (or its hook no longer exists): chain
   *                stopped, with an `ended` notice;
   * observed       dry run: the step would have completed the action, or the hook has
   *                expired; the chain stops;
   * notified       a pending notice was published;
   * notice-pending a pending notice failed again and is rescheduled.
   */
  outcome: 'ignored' | 'held' | 'completed' | 'gone' | 'observed' | 'notified' | 'notice-pending';
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
  /** `gone`: why the action ended without the gate. */
  cause?: GoneCause;
}

/** Not enough of the step's time is left to probe and still heartbeat or complete in time. */
export class OutOfTimeError extends ThemisError {
  override name = 'OutOfTimeError';
}

/** A pending notice is past its retry limit: left to SQS's redrive (DLQ + alarm). */
export class NoticeUndeliverableError extends ThemisError {
  override name = 'NoticeUndeliverableError';
}

/** Below this a probe is not worth starting: the step is left for the redelivery. */
const MIN_PROBE_MS = 200;

const NOTICE_FOR: Record<TerminalKind, NoticeEvent> = {
  release: 'released',
  'release-unreachable': 'released-unreachable',
  deadline: 'deadline',
  'ssm-failed': 'ssm-failed',
};

/** A launch chain ends ready (CONTINUE) or abandoned at its deadline (launch.ts). */
const LAUNCH_NOTICE_FOR: Partial<Record<TerminalKind, NoticeEvent>> = {
  release: 'launch-ready',
  'release-unreachable': 'launch-unchecked',
  deadline: 'launch-abandoned',
};

export async function gateStep(
  input: unknown,
  deps: GateDeps,
  options: StepOptions = {},
): Promise<StepOutcome> {
  const { config } = deps;
  let log = deps.log;
  const timers = deps.timers ?? realTimers;
  const deadline = options.deadline ?? Deadline.after(stepBudgetMs(MAX_PROBE_TIMEOUT_MS), timers);
  const progress = options.progress ?? { committed: false };
  const startedMs = deps.clock();
  const parsed = normaliseInput(input, startedMs, options.viaSns);
  if (parsed.kind === 'ignore') {
    log.info('gate input ignored', {
      source: parsed.source,
      viaSns: parsed.viaSns,
      reason: parsed.reason,
      ...(parsed.groupName ? { group: parsed.groupName } : {}),
    });
    return { outcome: 'ignored', reason: parsed.reason, source: parsed.source };
  }
  if (parsed.kind === 'notice') {
    return deliverPendingNotice(parsed.pending, deps, deadline, progress);
  }
  if (deadline.remainingMs() < AFTER_PROBE_RESERVE_MS + MIN_PROBE_MS) {
    throw new OutOfTimeError(
      `only ${Math.max(0, Math.round(deadline.remainingMs()))} ms left for this step; leaving it for a retry`,
    );
  }

  const { action, source } = parsed;
  const where = { instanceId: action.instanceId, group: action.groupName, hook: action.hookName };
  // Every line of this step carries its instance, group and hook.
  log = childLog(log, where);
  deps = { ...deps, log };
  const base = { source, instanceId: action.instanceId, groupName: action.groupName };

  let [group] = await deadline.run('DescribeAutoScalingGroups', (signal) =>
    deps.groups.describeGroups([action.groupName], { signal }),
  );
  let { settings, problems } = resolveGateSettings(
    config.settings,
    group?.tags ?? {},
    action.metadata,
  );
  // A first step pins the chain's mode for the whole hold, and the container's answer may be
  // GROUP_TAGS_TTL_MS old: a dry run it names may have been switched off since, and a hold
  // pinned to dry run never heartbeats — the hook times out and a busy instance is terminated.
  // So a first step that would start in dry run reads the group again, uncached. (A stale
  // "live" needs no check: it only holds where it was asked to observe.)
  const fresh = deps.freshGroups;
  if (!parsed.state && settings.dryRun && fresh && fresh !== deps.groups) {
    [group] = await deadline.run('DescribeAutoScalingGroups', (signal) =>
      fresh.describeGroups([action.groupName], { signal }),
    );
    ({ settings, problems } = resolveGateSettings(
      config.settings,
      group?.tags ?? {},
      action.metadata,
    ));
  }
  const passage = passageOf(action.transition, action.origin, action.destination);
  const launch = action.transition === LAUNCHING;
  // A launch let in at once (CONTINUE, ungated) follows a dry-run setting — except on a first
  // step that may be the retry of a live one whose completion failed: observing it then would
  // leave the action to its hook's timeout, with no outcome. Letting it in is what the live
  // attempt was doing, and all a launch hook's CONTINUE does.
  const ungatedDryRun =
    parsed.state?.dryRun ??
    chainDryRun(
      undefined,
      settings.dryRun,
      parsed.eventTimeMs === undefined ? undefined : startedMs - parsed.eventTimeMs,
    );
  if (launch && !parsed.state) {
    const ownership = launchOwnership(action.hookName, group?.tags ?? {}, config);
    if (ownership === 'not-ours') {
      const reason = `launch action of hook ${action.hookName}, which is not themis's launch hook`;
      log.info('gate input ignored', { source, reason, passage });
      return { ...base, outcome: 'ignored', reason };
    }
    if (ownership === 'continue') {
      return continueUngatedLaunch(deps, action, ungatedDryRun, base, deadline, passage);
    }
  }
  if (launch && settings.ecsCluster && passage === 'launch-into-pool') {
    // ECS mode: with ECS_WARM_POOLS_CHECK=true (AWS's setup for ECS with a warm pool) the agent
    // does not register while the instance is in the pool, so it would never be ACTIVE and
    // every launch into the pool would be abandoned at the deadline and replaced, for ever.
    // Readiness is asked when it leaves the pool (leave-pool) instead.
    return continueUngatedLaunch(
      deps,
      action,
      ungatedDryRun,
      base,
      deadline,
      passage,
      'ECS mode: a launch into the warm pool is not gated (the ECS agent registers only when the instance leaves the pool; readiness is asked then)',
    );
  }

  // The hook's timing is read once, on the first step; later steps carry it.
  let hook: HookInfo | undefined;
  if (!parsed.state) {
    const describeHook = options.describeHook ?? deps.lifecycle.describeHook.bind(deps.lifecycle);
    hook = await deadline.run('DescribeLifecycleHooks', (signal) =>
      describeHook(action.groupName, action.hookName, { signal }),
    );
  }
  // The step's state, built once from what it read; the decision returns the next one.
  const { state, givenUp, dryRunRefused } = chainState({
    carried: parsed.state,
    hook,
    eventTimeMs: parsed.eventTimeMs,
    startedMs,
    settingDryRun: settings.dryRun,
    canFollowCommands: deps.commands !== undefined,
    launch,
  });
  if (dryRunRefused) {
    log.warn('dry run not applied: this first step may be the retry of a live one', {
      eventAgeSeconds: Math.round((startedMs - (parsed.eventTimeMs ?? startedMs)) / 1000),
    });
  }
  if (!parsed.state && hook) progress.retryBody = encodeRecheck(action, state);
  const { dryRun } = state;
  const step = new Step(deps, action, state, base, deadline, progress);
  // Whether an ABANDON would retain the instance (RETAIN is resolved against it in finish).
  step.group = group;
  step.passage = passage;
  step.facts.passage = passage;
  step.abandonStreak = readAbandonStreak(group?.tags ?? {});

  if (!parsed.state && !hook) {
    // Deleting a hook ends its outstanding actions (Auto Scaling goes on with them).
    return step.ended(undefined, 'hook-deleted');
  }
  if (problems.length) {
    const reason = `ignored bad settings, using the defaults for them: ${problems
      .map((p) => p.message)
      .join('; ')}`;
    log.error('bad gate settings', { ...where, problems, attempt: state.attempt });
    // Once per action, not on every recheck; never at the cost of the probe's time.
    if (state.attempt === 1)
      await step.tryNotify('error', { reason }, deadline.within(CALL_ALLOWANCE_MS));
  }
  if (givenUp) {
    // Only when SSM is not wired at all (a test, a tool): give the command up, say so, and
    // go back to probing, so the action still gets its outcome.
    const reason = `the pre-termination command ${givenUp.commandId} can no longer be followed (no SSM access); themis goes back to probing the instance`;
    log.error('pre-termination command given up', { ...where, commandId: givenUp.commandId });
    await step.tryNotify('error', { reason }, deadline.within(CALL_ALLOWANCE_MS));
  }

  let command: { state: CommandState; detail?: string } | undefined;
  if (state.ssm) {
    const { commandId } = state.ssm;
    command = await deadline.run('GetCommandInvocation', (signal) =>
      requireCommands(deps).status(commandId, action.instanceId, { signal }),
    );
    step.facts.commandId = commandId;
  }
  let probe: ProbeResult | undefined;
  if (!state.ssm) {
    // ECS mode: the instance's tasks (DRAINING it first), not an HTTP probe (lib/ecs); a
    // launch asks only whether the instance is an ACTIVE container instance yet.
    probe = launch
      ? settings.ecsCluster
        ? await ecsLaunchReadiness(deps, settings.ecsCluster, action.instanceId, deadline)
        : await probeInstance(deps, action.instanceId, settings, deadline)
      : settings.ecsCluster
        ? await observeForGate({
            cluster: settings.ecsCluster,
            instanceId: action.instanceId,
            ecs: deps.ecs,
            dryRun,
            sinceMs: state.firstSeenMs,
            deadline: deadline.less(AFTER_PROBE_RESERVE_MS),
            now: deps.clock,
          })
        : await probeInstance(deps, action.instanceId, settings, deadline);
    step.facts.probe = { status: probe.status, ...(probe.reason ? { reason: probe.reason } : {}) };
  }

  const nowMs = deps.clock();
  const decision =
    launch && probe
      ? decideLaunch({
          state,
          probe,
          passage,
          config,
          dryRun,
          nowMs,
          random: deps.random(),
          phase: actionPhase(action.token),
        })
      : decide({
          state,
          probe,
          command,
          config,
          dryRun,
          nowMs,
          random: deps.random(),
          phase: actionPhase(action.token),
        });
  step.nowMs = nowMs;
  log.info('gate decision', {
    source,
    decision: decision.kind,
    reason: decision.reason,
    passage,
    attempt: state.attempt,
    waitedSeconds: step.waitedSeconds(),
    ...(probe ? { probe: probe.status } : {}),
    ...(probe?.reason ? { probeReason: probe.reason } : {}),
    ...(command ? { command: command.state } : {}),
    ...('delaySeconds' in decision ? { delaySeconds: decision.delaySeconds } : {}),
    ...('heartbeat' in decision ? { heartbeat: decision.heartbeat } : {}),
    ...('result' in decision ? { result: decision.result } : {}),
    ...(dryRun ? { dryRun } : {}),
  });

  switch (decision.kind) {
    case 'hold':
    case 'wait-ssm':
      return step.hold(decision);
    case 'run-ssm':
      return step.runCommand(decision);
    case 'expired': {
      const notice = await step.publishOutcome('deadline', {
        reason: decision.reason,
        expired: true,
      });
      return step.outcome('observed', decision, notice ? { notice } : {});
    }
    default:
      return step.finish(decision);
  }
}

/**
 * Ask the instance, inside the step's deadline less the time the calls after the probe
 * need. A probe that does not settle by then is an unknown answer, like its own timeout.
 */
async function probeInstance(
  deps: GateDeps,
  instanceId: string,
  settings: ProbeSettings & { timeoutMs: number },
  deadline: Deadline,
): Promise<ProbeResult> {
  const probeDeadline = deadline.less(AFTER_PROBE_RESERVE_MS);
  const addresses = await probeDeadline.run('DescribeInstances', (signal) =>
    deps.addresses.privateAddresses([instanceId], { signal }),
  );
  const address = addresses.get(instanceId);
  if (!address) {
    return { status: 'unknown', reason: 'no private address (instance gone?)', latencyMs: 0 };
  }
  const budgetMs = Math.floor(probeDeadline.remainingMs());
  if (budgetMs < MIN_PROBE_MS) {
    throw new OutOfTimeError(`only ${budgetMs} ms left to probe; leaving the step for a retry`);
  }
  const timeoutMs = Math.min(settings.timeoutMs, budgetMs);
  const startedMs = probeDeadline.timers.now();
  try {
    return await probeDeadline.run(`probe ${address}`, (signal) =>
      deps.prober.probe(address, { ...settings, timeoutMs }, { signal }),
    );
  } catch (err) {
    if (!(err instanceof DeadlineExceededError)) throw err;
    return {
      status: 'unknown',
      reason: `timeout after ${timeoutMs} ms (the probe did not settle)`,
      latencyMs: probeDeadline.timers.now() - startedMs,
    };
  }
}

/** A notice that could not be published before: publish it, or schedule it once more. */
async function deliverPendingNotice(
  pending: PendingNotice,
  deps: GateDeps,
  deadline: Deadline,
  progress: StepProgress,
): Promise<StepOutcome> {
  const { log } = deps;
  const fields = {
    event: pending.notice.attributes.event,
    group: pending.notice.attributes.group,
    outcomeId: pending.notice.attributes['outcome-id'],
    attempts: pending.attempts + 1,
  };
  const base = { source: 'notice' as const, reason: pending.notice.subject };
  if (!deps.notifications) {
    log.error('pending notice dropped: no topic is configured any more', fields);
    return { ...base, outcome: 'ignored' };
  }
  const notifications = deps.notifications;
  try {
    await deadline
      .less(CALL_ALLOWANCE_MS)
      .run('Publish', (signal) => notifications.publish(pending.notice, { signal }));
    log.info('pending notice published', fields);
    return { ...base, outcome: 'notified' };
  } catch (err) {
    const nowMs = deps.clock();
    if (!withinNoticeRetryLimit(pending.firstFailedMs, nowMs)) {
      throw new NoticeUndeliverableError(
        `notice not published since ${new Date(pending.firstFailedMs).toISOString()} (${errorMessage(err)}); left to the dead-letter queue`,
      );
    }
    const next = { ...pending, attempts: pending.attempts + 1 };
    const delaySeconds = noticeRetryDelaySeconds(next.attempts);
    const { rechecks } = deps;
    await deadline.run('SendMessage', (signal) =>
      rechecks.schedule(encodePendingNotice(next), delaySeconds, { signal }),
    );
    progress.committed = true;
    log.warn('notice not sent again; retrying later', {
      ...fields,
      delaySeconds,
      error: errorMessage(err),
    });
    return { ...base, outcome: 'notice-pending', delaySeconds };
  }
}

/**
 * themis's launch hook on a group without `themis:launch-gate=true`: CONTINUE at once (in a
 * dry run, only say so), logged, no notice — one per launch would be noise.
 */
async function continueUngatedLaunch(
  deps: GateDeps,
  action: LifecycleAction,
  dryRun: boolean,
  base: Pick<StepOutcome, 'source' | 'instanceId' | 'groupName'>,
  deadline: Deadline,
  passage: Passage,
  reason = 'launch gate off for this group (no themis:launch-gate=true tag)',
): Promise<StepOutcome> {
  const outcome = { ...base, reason, decision: 'release' as const, result: 'CONTINUE' as const };
  if (dryRun) {
    deps.log.info('launch not gated', { reason, passage, dryRun });
    return { ...outcome, outcome: 'observed', dryRun };
  }
  const answer = await deadline.run('CompleteLifecycleAction', (signal) =>
    deps.lifecycle.complete(action, 'CONTINUE', { signal }),
  );
  deps.log.info('launch not gated', { reason, passage, result: 'CONTINUE', answer });
  return { ...outcome, outcome: answer === 'gone' ? 'gone' : 'completed', dryRun };
}

/** ECS mode, launch: ready once the instance is an ACTIVE container instance of the cluster. */
async function ecsLaunchReadiness(
  deps: GateDeps,
  cluster: string,
  instanceId: string,
  deadline: Deadline,
): Promise<ProbeResult> {
  const ecs = deps.ecs;
  if (!ecs) {
    const reason = 'ECS mode, but the gate has no ECS client';
    return { status: 'unknown', reason, latencyMs: 0, setupFailure: true };
  }
  try {
    const registered = await deadline
      .less(AFTER_PROBE_RESERVE_MS)
      .run(`ECS ${cluster} ${instanceId}`, (signal) =>
        ecs.containerInstances(cluster, { ec2InstanceIds: [instanceId] }, { signal }),
      );
    const statuses = registered.map((ci) => ci.status);
    return ecsReadiness(statuses.includes('ACTIVE') ? 'ACTIVE' : statuses[0]);
  } catch (err) {
    const reason = `ECS: ${errorMessage(err)}`;
    // An outage or throttling passes: "not yet". A refusal (AccessDenied, ClusterNotFound)
    // comes back on every step: abandoning at the deadline would replace every launch.
    const passing = err instanceof DeadlineExceededError || isTransientError(err);
    return { status: 'unknown', reason, latencyMs: 0, ...(passing ? {} : { setupFailure: true }) };
  }
}

/** The carrying-out half of a step: one action, one decision. */
class Step {
  readonly facts: Partial<NoticeFacts> = {};
  nowMs: number;
  /** The group as this step read it; undefined when DescribeAutoScalingGroups did not list it. */
  group: GroupRetention | undefined;
  /** Where the action takes the instance (warm-pool.ts); named in the notices. */
  passage: Passage = 'terminate';
  /** Launch chains: the group's abandons in a row before this step (launch.ts). */
  abandonStreak = readAbandonStreak({});
  private readonly ref;
  private readonly dryRun: boolean;

  constructor(
    private readonly deps: GateDeps,
    private readonly action: LifecycleAction,
    readonly state: ChainState,
    private readonly base: Pick<StepOutcome, 'source' | 'instanceId' | 'groupName'>,
    private readonly deadline: Deadline,
    private readonly progress: StepProgress,
  ) {
    this.nowMs = deps.clock();
    this.dryRun = state.dryRun;
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
    decision: Pick<Decision, 'kind' | 'reason'>,
    extra: Partial<StepOutcome> = {},
  ): StepOutcome {
    return {
      ...this.base,
      outcome,
      reason: decision.reason,
      decision: decision.kind,
      attempt: this.state.attempt,
      dryRun: this.dryRun,
      ...('result' in decision ? { result: decision.result as LifecycleResult } : {}),
      ...extra,
    };
  }

  /** Heartbeat when due (never in a dry run), then schedule the next step. */
  async hold(decision: Extract<Decision, { kind: 'hold' | 'wait-ssm' }>): Promise<StepOutcome> {
    const { rechecks } = this.deps;
    let next = decision.next;
    if (decision.heartbeat && !this.dryRun) {
      const atMs = this.deps.clock();
      if ((await this.heartbeat()) === 'gone') return this.ended(decision);
      next = { ...next, lastHeartbeatMs: atMs, heartbeats: next.heartbeats + 1 };
    }
    let notice: NoticeEvent | undefined;
    if (decision.kind === 'hold' && decision.notifyHolding) {
      // Before the SendMessage, with time kept back for it: a "holding" notice that fails is
      // tried again on the next step (holdingNotified stays false), never lost for good.
      const sent = await this.tryNotify(
        'holding',
        { reason: decision.reason },
        this.deadline.less(CALL_ALLOWANCE_MS),
      );
      notice = this.deps.notifications ? 'holding' : undefined;
      next = { ...next, holdingNotified: sent };
    }
    await this.deadline.run('SendMessage', (signal) =>
      rechecks.schedule(encodeRecheck(this.action, next), decision.delaySeconds, { signal }),
    );
    this.progress.committed = true;
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
    const { rechecks } = this.deps;
    const commands = requireCommands(this.deps);
    const heartbeatAtMs = this.deps.clock();
    if ((await this.heartbeat()) === 'gone') return this.ended(decision);

    const cannotStart = async (why: string) =>
      this.finish({
        kind: 'ssm-failed',
        result: config.onSsmFailure,
        reason: `${ssm.documentName} could not be started: ${why}`,
      });
    const exists = await this.deadline.run('DescribeDocument', (signal) =>
      commands.documentExists(ssm.documentName, { signal }),
    );
    if (!exists) return cannotStart('the document does not exist');
    const managed = await this.deadline.run('DescribeInstanceInformation', (signal) =>
      commands.isManaged(this.action.instanceId, { signal }),
    );
    if (!managed) return cannotStart('the instance is not managed by SSM (no agent online)');
    const sentAtMs = this.deps.clock();
    const commandId = await this.deadline.run('SendCommand', (signal) =>
      commands.send(this.action.instanceId, ssm.documentName, ssm.parameters, ssm.timeoutSeconds, {
        signal,
      }),
    );
    log.info('pre-termination command sent', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      document: ssm.documentName,
      commandId,
    });
    // If this SendMessage fails the step is retried from the old state and the command is
    // sent again: pre-termination commands must tolerate running twice.
    const next: StepState = {
      ...decision.next,
      lastHeartbeatMs: heartbeatAtMs,
      heartbeats: decision.next.heartbeats + 1,
      ssm: {
        commandId,
        sentAtMs,
        documentName: ssm.documentName,
        timeoutSeconds: ssm.timeoutSeconds,
      },
    };
    await this.deadline.run('SendMessage', (signal) =>
      rechecks.schedule(encodeRecheck(this.action, next), decision.delaySeconds, { signal }),
    );
    this.progress.committed = true;
    return this.outcome('held', decision, { delaySeconds: decision.delaySeconds });
  }

  /**
   * The group as it is now when RETAIN decides: the step's answer may come from the
   * container's cache, and acting on a stale one either ABANDONs on a group whose retention
   * was turned off since (terminating a busy instance) or CONTINUEs on a group that retains
   * now (terminating one it would keep). Unreadable: as not retaining.
   */
  private async retentionNow(policy: string): Promise<GroupRetention | undefined> {
    if (policy !== 'RETAIN') return this.group;
    const groups = this.deps.freshGroups ?? this.deps.groups;
    try {
      const [group] = await this.deadline.run('DescribeAutoScalingGroups', (signal) =>
        groups.describeGroups([this.action.groupName], { signal }),
      );
      return group;
    } catch (err) {
      this.deps.log.error('group not read before retaining', { reason: errorMessage(err) });
      return undefined;
    }
  }

  /** Complete the lifecycle action (in a dry run: only say what would happen). */
  async finish(terminal: Extract<Decision, { kind: TerminalKind }>): Promise<StepOutcome> {
    const launch = this.action.transition === LAUNCHING;
    // Every completion passes here: RETAIN becomes ABANDON only where the group retains. A
    // launch's ABANDON is not a terminate hook's: retention never applies to it.
    const completion = launch
      ? { result: terminal.result as LifecycleResult, retained: false, retentionMissing: undefined }
      : resolveCompletion(
          terminal.result,
          await this.retentionNow(terminal.result),
          this.action.groupName,
          this.passage,
        );
    const event: NoticeEvent = completion.retained
      ? 'retained'
      : ((launch ? LAUNCH_NOTICE_FOR[terminal.kind] : undefined) ?? NOTICE_FOR[terminal.kind]);
    let reason = terminal.reason;
    if (completion.retained) reason += retainedReason(this.passage);
    if (completion.retentionMissing) {
      reason += `; ${completion.retentionMissing}`;
      this.deps.log.error('retention not enabled for the group', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        decision: terminal.kind,
        reason: completion.retentionMissing,
      });
    }
    const decision = { ...terminal, result: completion.result };
    if (this.dryRun) {
      const notice = await this.publishOutcome(event, { reason, result: decision.result });
      return this.outcome('observed', { ...decision, reason }, notice ? { notice } : {});
    }
    if (decision.cancelCommand && this.state.ssm) reason += await this.cancelCommand();
    const answer = await this.deadline.run('CompleteLifecycleAction', (signal) =>
      this.deps.lifecycle.complete(this.ref, decision.result, { signal }),
    );
    // Already completed: most likely by this step's earlier attempt, killed before its notice;
    // the notice says what it decided, the Retained state included.
    if (answer === 'gone') return this.ended({ ...decision, reason });
    this.deps.log.info('lifecycle action completed', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      hook: this.action.hookName,
      decision: decision.kind,
      result: decision.result,
      reason,
      waitedSeconds: this.waitedSeconds(),
      attempt: this.state.attempt,
    });
    const streak = launch ? await this.recordLaunchOutcome(event) : {};
    const notice = await this.publishOutcome(event, { reason, result: decision.result, ...streak });
    return this.outcome('completed', { ...decision, reason }, notice ? { notice } : {});
  }

  /**
   * Count a launch abandoned in a row, or clear the count once one is ready (the group tag,
   * launch.ts). Best effort, in a call's allowance kept apart from the notice's: a failure is
   * logged and the notice still goes out, without the count.
   */
  private async recordLaunchOutcome(event: NoticeEvent): Promise<Partial<NoticeFacts>> {
    const previous = await this.abandonStreakNow();
    const abandoned = event === 'launch-abandoned';
    if (!abandoned && previous.count === 0) return {};
    const next = nextAbandonStreak(previous, this.deps.clock());
    const value = abandoned ? next.tagValue : undefined;
    const facts: Partial<NoticeFacts> = abandoned
      ? { abandonsInARow: next.streak.count, streak: streakSentence(previous, next.streak.count) }
      : {};
    const tags = this.deps.groupTags;
    if (!tags) return facts;
    try {
      await this.deadline
        .less(2 * CALL_ALLOWANCE_MS)
        .within(CALL_ALLOWANCE_MS)
        .run(value === undefined ? 'DeleteTags' : 'CreateOrUpdateTags', (signal) =>
          tags.setTag(this.action.groupName, LAUNCH_ABANDONS_TAG, value, { signal }),
        );
    } catch (err) {
      this.deps.log.warn('launch abandon count not recorded', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        error: errorMessage(err),
      });
    }
    return facts;
  }

  /**
   * The group's abandons in a row as AWS holds them now: the step's answer may come from the
   * container's cache, older than another container's abandon or clear, and a count read
   * stale would not be cleared by a ready launch or would be continued past one ("a
   * replacement loop is likely" with a launch in between). One uncached read per launch
   * completion; unreadable, the step's own answer stands.
   */
  private async abandonStreakNow(): Promise<AbandonStreak> {
    const fresh = this.deps.freshGroups;
    if (!fresh || fresh === this.deps.groups) return this.abandonStreak;
    try {
      const [group] = await this.deadline
        .less(2 * CALL_ALLOWANCE_MS)
        .within(CALL_ALLOWANCE_MS)
        .run('DescribeAutoScalingGroups', (signal) =>
          fresh.describeGroups([this.action.groupName], { signal }),
        );
      return group ? readAbandonStreak(group.tags) : this.abandonStreak;
    } catch (err) {
      this.deps.log.warn('launch abandon count not read again', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        error: errorMessage(err),
      });
      return this.abandonStreak;
    }
  }

  /** Cancel the command in flight (best effort); the words to add to the reason. */
  private async cancelCommand(): Promise<string> {
    const ssm = this.state.ssm;
    const commands = this.deps.commands;
    if (!ssm || !commands) return '';
    try {
      await this.deadline
        .within(CALL_ALLOWANCE_MS)
        .run('CancelCommand', (signal) =>
          commands.cancel(ssm.commandId, this.action.instanceId, { signal }),
        );
      return `; themis cancelled command ${ssm.commandId}`;
    } catch (err) {
      this.deps.log.warn('pre-termination command not cancelled', {
        instanceId: this.action.instanceId,
        commandId: ssm.commandId,
        error: errorMessage(err),
      });
      return `; cancelling command ${ssm.commandId} failed (${errorMessage(err)}), it may still be running`;
    }
  }

  /**
   * The action ended without this step ('gone'): find out why, tell operators, stop.
   * `decision`: what this step had decided (none when it never got that far); `known`: the
   * cause when already known (the hook was missing on the first step).
   */
  async ended(
    decision: Pick<Decision, 'kind' | 'reason'> | undefined,
    known?: GoneCause,
  ): Promise<StepOutcome> {
    let cause = known;
    if (!cause) {
      let hookExists: boolean | undefined;
      try {
        const hook = await this.deadline
          .less(2 * CALL_ALLOWANCE_MS)
          .run('DescribeLifecycleHooks', (signal) =>
            this.deps.lifecycle.describeHook(this.action.groupName, this.action.hookName, {
              signal,
            }),
          );
        hookExists = hook !== undefined;
      } catch (err) {
        // Without the answer the timing still tells an outage from a completion.
        this.deps.log.warn('hook not described', {
          instanceId: this.action.instanceId,
          error: errorMessage(err),
        });
      }
      cause = goneCause(this.state, hookExists, this.deps.clock());
    }
    const reason = GONE_REASON[cause];
    this.deps.log.warn('gate stopped', {
      instanceId: this.action.instanceId,
      group: this.action.groupName,
      hook: this.action.hookName,
      ...(decision ? { decision: decision.kind } : {}),
      cause,
      reason,
      attempt: this.state.attempt,
    });
    const notice = await this.publishOutcome('ended', {
      reason,
      cause,
      ...(decision ? { decided: `${decision.kind} (${decision.reason})` } : {}),
    });
    const outcome = decision
      ? this.outcome('gone', decision, notice ? { notice } : {})
      : {
          ...this.base,
          outcome: 'gone' as const,
          attempt: 1,
          dryRun: this.dryRun,
          ...(notice ? { notice } : {}),
        };
    return { ...outcome, reason, cause };
  }

  private facts_(event: NoticeEvent, extra: Partial<NoticeFacts>): NoticeFacts {
    return {
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
  }

  /**
   * Publish an outcome notice, durably: when Publish fails, the notice goes on the recheck
   * queue and is retried from there (notice-retry.ts); when that fails too, the step throws
   * (its retry finds the action ended and notices). Returns the event (undefined without a
   * topic: outcomes are then only logged).
   */
  async publishOutcome(
    event: NoticeEvent,
    extra: Partial<NoticeFacts>,
  ): Promise<NoticeEvent | undefined> {
    const { notifications, log } = this.deps;
    if (!notifications) return undefined;
    const notice = buildNotice(this.facts_(event, { ...extra, outcomeId: outcomeId(this.ref) }));
    try {
      await this.deadline
        .less(CALL_ALLOWANCE_MS)
        .run('Publish', (signal) => notifications.publish(notice, { signal }));
      return event;
    } catch (err) {
      log.error('notification not sent; retrying it through the recheck queue', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        event,
        error: errorMessage(err),
      });
    }
    const { rechecks } = this.deps;
    const pending = { notice, attempts: 1, firstFailedMs: this.deps.clock() };
    await this.deadline.run('SendMessage', (signal) =>
      rechecks.schedule(encodePendingNotice(pending), noticeRetryDelaySeconds(1), { signal }),
    );
    return event;
  }

  /**
   * Publish a notice that is not an outcome ("holding", "error"), within `deadline`; a
   * failure is logged and never fails the step. true when it was published (or there is no
   * topic to publish to).
   */
  async tryNotify(
    event: NoticeEvent,
    extra: Partial<NoticeFacts>,
    deadline: Deadline,
  ): Promise<boolean> {
    const { notifications, log } = this.deps;
    if (!notifications) return true;
    try {
      const notice = buildNotice(this.facts_(event, extra));
      await deadline.run('Publish', (signal) => notifications.publish(notice, { signal }));
      return true;
    } catch (err) {
      log.error('notification not sent', {
        instanceId: this.action.instanceId,
        group: this.action.groupName,
        event,
        error: errorMessage(err),
      });
      return false;
    }
  }

  private async heartbeat(): Promise<'recorded' | 'gone'> {
    return this.deadline.run('RecordLifecycleActionHeartbeat', (signal) =>
      this.deps.lifecycle.recordHeartbeat(this.ref, { signal }),
    );
  }
}

function retainedReason(passage: Passage): string {
  const kept = `; the group retains abandoned instances, so it keeps running in ${retainedStateOf(passage)}`;
  return releasedByThemis(passage)
    ? `${kept} and themis terminates it once it answers idle`
    : `${kept}, a warm-pool state themis does not watch: themis will not terminate it`;
}

/** A step's state once its mode is pinned: what it decides from and carries on. */
export type ChainState = Readonly<StepState & { dryRun: boolean }>;

/**
 * The state of this step, built once from what it read: the carried state (a recheck), or
 * the first step's from the hook's timing; the chain's mode pinned (decide.ts, chainDryRun);
 * a command in flight dropped when it can no longer be followed (no SSM port at all).
 * `dryRunRefused`: the setting asked for a dry run that this first step refuses (it may be a
 * retry). A first step whose hook no longer exists gets a state with no timing (the step
 * then only says that the action ended).
 */
export function chainState(read: {
  carried: StepState | undefined;
  hook: HookTiming | undefined;
  eventTimeMs: number | undefined;
  startedMs: number;
  settingDryRun: boolean;
  canFollowCommands: boolean;
  /**
   * A launch action: its first step reads the setting whatever its age. The "may be a retry"
   * rule protects a busy instance from a termination; a launch has none to protect, and going
   * live there would let a dry-run stage ABANDON (replace) launches.
   */
  launch?: boolean;
}): { state: ChainState; givenUp?: CommandInFlight; dryRunRefused: boolean } {
  const { carried, hook, eventTimeMs, startedMs, settingDryRun } = read;
  const firstStepAgeMs =
    carried === undefined && eventTimeMs !== undefined && !read.launch
      ? startedMs - eventTimeMs
      : undefined;
  const base =
    carried ??
    initialState(Math.min(eventTimeMs ?? startedMs, startedMs), {
      heartbeatTimeoutSeconds: hook?.heartbeatTimeoutSeconds ?? 0,
      globalTimeoutSeconds: hook?.globalTimeoutSeconds ?? 0,
    });
  const dryRun = chainDryRun(base.dryRun, settingDryRun, firstStepAgeMs);
  const { ssm, ...rest } = base;
  const givenUp = ssm && !read.canFollowCommands ? ssm : undefined;
  const state: ChainState = Object.freeze({
    ...rest,
    dryRun,
    ...(ssm && !givenUp ? { ssm } : {}),
  });
  return {
    state,
    ...(givenUp ? { givenUp } : {}),
    dryRunRefused: settingDryRun && !dryRun && base.dryRun === undefined,
  };
}

const GONE_REASON: Record<GoneCause, string> = {
  'hook-deleted': 'the lifecycle hook no longer exists',
  'timed-out': "the lifecycle action timed out (no heartbeat within the hook's timeout)",
  'ended-elsewhere': 'the lifecycle action had already been completed',
};

function requireCommands(deps: GateDeps): RemoteCommands {
  if (!deps.commands) {
    throw new ConfigError(GATE_ENV.ssmDocument, 'a command is configured but SSM is not wired');
  }
  return deps.commands;
}
