/**
 * The gate's decision for one step, as a pure function of what the step observed:
 * the carried state, this step's probe (or the pre-termination command's status), the
 * hook's timing, the configuration and `now`. Checked in this order:
 *
 *   1. deadline passed: command succeeded or idle now → release (no time left for a command)
 *                       otherwise           → deadline (complete with THEMIS_ON_DEADLINE)
 *   2. dry run and the hook has timed out   → expired (stop observing)
 *   3. command in flight: success           → release
 *                         failed            → ssm-failed (complete with THEMIS_ON_SSM_FAILURE)
 *                         running too long  → ssm-failed, and cancel the command
 *                         pending           → wait-ssm (recheck)
 *   4. busy                                 → hold (recheck)
 *   5. idle, a command is configured        → run-ssm (send it, recheck)
 *      idle                                 → release (complete with CONTINUE)
 *   6. unknown, the N-th in a row           → release-unreachable
 *      unknown                              → hold
 *      unknown from an API failure          → hold, not counted (ECS mode: the API, not the
 *                                             instance, failed)
 *
 * Every waiting decision says whether this step must record a heartbeat (heartbeatDue):
 * only when the hook's HeartbeatTimeout would otherwise come within the heartbeat margin
 * (lib/gate/budget.ts), never in a dry run.
 *
 * Invariant: every path ends in a completion or schedules another step, and no step is
 * scheduled past the deadline, so every lifecycle action gets an outcome from the gate.
 */
import { LAMBDA_ASYNC_RETRY_DELAYS_SECONDS } from '../aws/facts.js';
import type { CommandState, ProbeResult } from '../ports.js';
import type { FailurePolicy } from '../retain/decide.js';
import { GATE_DEFAULTS, MAX_RECHECK_SECONDS, type GateConfig } from './config.js';
import type { StepState } from './state.js';

/**
 * The gate finishes this long before the hook's global timeout. It has to absorb the SQS
 * delivery lag of the last recheck, a failed step redelivered after the queue's visibility
 * timeout, and the gap between the event's time and our clock — so that themis's
 * THEMIS_ON_DEADLINE result, not the hook's DefaultResult, decides, and operators are told.
 */
export const DEADLINE_MARGIN_SECONDS = 300;

export type DecisionConfig = Pick<
  GateConfig,
  | 'recheckSeconds'
  | 'maxWaitSeconds'
  | 'unknownLimit'
  | 'onDeadline'
  | 'onSsmFailure'
  | 'ssm'
  | 'heartbeatMarginSeconds'
>;

/**
 * The first heartbeat of an action comes up to this fraction of the heartbeat spacing
 * early, by the action's own phase: the actions of one large scale-in start together, and
 * without it they would all heartbeat in the same few seconds, every spacing, against the
 * account's Auto Scaling rate limit. Later heartbeats keep the phase the first one set.
 */
export const FIRST_HEARTBEAT_SPREAD = 0.5;

export interface DecideInput {
  state: StepState;
  /** This step's probe; absent while a pre-termination command is in flight (state.ssm). */
  probe?: ProbeResult;
  /** The in-flight command's status; required when state.ssm is set. */
  command?: { state: CommandState; detail?: string };
  config: DecisionConfig;
  /** Observe only: nothing is heartbeated, so the hook expires after its HeartbeatTimeout. */
  dryRun: boolean;
  nowMs: number;
  /** A number in [0, 1), for the recheck jitter. */
  random: number;
  /** The action's own number in [0, 1), stable across its steps (actionPhase). */
  phase: number;
}

/** Decisions that end the hold with a CompleteLifecycleAction. */
export type TerminalKind = 'release' | 'release-unreachable' | 'deadline' | 'ssm-failed';

/** Decisions that wait: `heartbeat` says whether this step must record one first. */
interface Waiting {
  reason: string;
  delaySeconds: number;
  next: StepState;
  heartbeat: boolean;
}

export type Decision =
  | (Waiting & {
      kind: 'hold';
      /** Tell operators the instance is being held (until a "holding" notice went out). */
      notifyHolding: boolean;
    })
  | (Waiting & { kind: 'run-ssm' })
  | (Waiting & { kind: 'wait-ssm' })
  | {
      kind: TerminalKind;
      reason: string;
      /** RETAIN is resolved against the group's policy when the step completes (retain/decide.ts). */
      result: FailurePolicy;
      /** The command in flight ran past its limit: cancel it before completing. */
      cancelCommand?: boolean;
    }
  | { kind: 'expired'; reason: string };

/**
 * When the gate stops waiting: min(maxWait, global timeout − margin) after first sight. The
 * margin is at least the heartbeat margin (budget.ts): the step at the deadline may fail and
 * be redelivered after the visibility timeout, as any step may, and must still come before
 * Auto Scaling's own global timeout applies the DefaultResult.
 */
export function deadlineMs(
  state: StepState,
  config: Pick<GateConfig, 'maxWaitSeconds'> & Partial<Pick<GateConfig, 'heartbeatMarginSeconds'>>,
): number {
  const marginSeconds = Math.max(DEADLINE_MARGIN_SECONDS, config.heartbeatMarginSeconds ?? 0);
  const hookLimit = state.hook.globalTimeoutSeconds - marginSeconds;
  const limitSeconds = Math.max(0, Math.min(config.maxWaitSeconds ?? Infinity, hookLimit));
  return state.firstSeenMs + limitSeconds * 1000;
}

/**
 * Seconds until the next step: THEMIS_RECHECK_SECONDS, at most 900 (SQS DelaySeconds) and
 * at most half the HeartbeatTimeout (so a heartbeat always comes before the hook times out),
 * shortened by up to ~10 % of jitter — so the rechecks of a large scale-in spread out instead
 * of heartbeating in lockstep against the account's Auto Scaling rate limit — and never
 * beyond `untilSeconds` (the deadline), rounded up so that the next step lands at or after it.
 */
/** How late Lambda's SQS poller may hand over a message that has become visible (≈ 1 s). */
export const SQS_DELIVERY_ALLOWANCE_SECONDS = 1;

export function recheckDelaySeconds(
  recheckSeconds: number,
  heartbeatTimeoutSeconds: number,
  random: number,
  untilSeconds = Infinity,
): number {
  const base = Math.max(
    1,
    Math.min(recheckSeconds, MAX_RECHECK_SECONDS, Math.floor(heartbeatTimeoutSeconds / 2)),
  );
  const spread = Math.max(2, Math.ceil(base / 10));
  const jitter = Math.floor(Math.min(Math.max(random, 0), 0.999_999) * spread);
  // A second less than the setting: Lambda's poller hands a delayed message over up to about
  // a second after it becomes visible, and the probes of a hold must stay at most
  // THEMIS_RECHECK_SECONDS apart — not that plus the delivery (issue 10: release ≤ recheck + 1 s).
  const delay = Math.max(1, base - SQS_DELIVERY_ALLOWANCE_SECONDS - jitter);
  return Math.min(delay, Math.max(0, Math.ceil(untilSeconds)));
}

/**
 * Whether a step at `nowMs` must record a heartbeat: when the time since the last one has
 * reached the spacing HeartbeatTimeout − margin (the first one earlier by up to
 * FIRST_HEARTBEAT_SPREAD of it, by `phase`). A hook whose HeartbeatTimeout is at or below the
 * margin is heartbeated on every step.
 */
export function heartbeatDue(
  state: StepState,
  nowMs: number,
  marginSeconds: number,
  phase: number,
): boolean {
  const spacingMs = (state.hook.heartbeatTimeoutSeconds - marginSeconds) * 1000;
  if (spacingMs <= 0) return true;
  const early = state.heartbeats === 0 ? FIRST_HEARTBEAT_SPREAD * clamp01(phase) : 0;
  return nowMs - state.lastHeartbeatMs >= spacingMs * (1 - early);
}

/**
 * Allowance for the clocks when telling a first attempt from a retry: the event's `time` has
 * whole seconds, Auto Scaling's and Lambda's clocks differ a little, and Lambda's "one
 * minute" before a retry is not promised to the millisecond.
 */
export const RETRY_AGE_ALLOWANCE_MS = 10_000;
/**
 * A first step this old (counted from its event's time) may be a retry of an earlier attempt
 * that already acted live: the earliest retry of any path comes later — Lambda's first retry
 * of an asynchronous invocation waits a minute after the failure, and an SQS delivery comes
 * back only after the queue's visibility timeout (480 s on the stack). So a first step
 * younger than this is the action's first attempt (or a near-simultaneous duplicate), and
 * the settings it reads are the settings of the action's start.
 */
export const FIRST_STEP_RETRY_AGE_MS =
  (LAMBDA_ASYNC_RETRY_DELAYS_SECONDS[0] ?? 0) * 1000 - RETRY_AGE_ALLOWANCE_MS;

/**
 * The mode of this step's chain. Pinned (carried in the recheck): kept, whatever the setting
 * says now. A first step reads the setting — but one old enough to be a retry never starts
 * in dry run: its earlier attempt may have started the chain live (sent "holding", decided
 * not to heartbeat yet because the hook had just started its timer) and died before its
 * recheck was sent, and a dry-run tag set since must not leave that busy instance to the
 * hook's timeout. Getting it wrong that way costs only a live hold (themis's normal job) on
 * an action that came in late while dry run was set; the other way costs a busy instance.
 */
export function chainDryRun(
  pinned: boolean | undefined,
  settingDryRun: boolean,
  firstStepAgeMs: number | undefined,
): boolean {
  if (pinned !== undefined) return pinned;
  const mayBeRetry = firstStepAgeMs !== undefined && firstStepAgeMs >= FIRST_STEP_RETRY_AGE_MS;
  return settingDryRun && !mayBeRetry;
}

/** A stable number in [0, 1) for one action (FNV-1a of its token). */
export function actionPhase(token: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    hash ^= token.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

/** Why an action the gate was carrying ended without it (the adapter answered 'gone'). */
export type GoneCause = 'hook-deleted' | 'timed-out' | 'ended-elsewhere';

/**
 * Tell the causes apart from what the step knows: the hook no longer exists (deleting a
 * hook ends its actions); the hook's timer ran out (no heartbeat for HeartbeatTimeout, or
 * the global timeout passed — an outage of the gate); or someone else completed it (a
 * duplicate chain, an earlier attempt of this step that died before its notice, an operator).
 */
export function goneCause(
  state: StepState,
  hookExists: boolean | undefined,
  nowMs: number,
): GoneCause {
  if (hookExists === false) return 'hook-deleted';
  const heartbeatExpired =
    nowMs - state.lastHeartbeatMs > state.hook.heartbeatTimeoutSeconds * 1000;
  const globalExpired = nowMs - state.firstSeenMs >= state.hook.globalTimeoutSeconds * 1000;
  return heartbeatExpired || globalExpired ? 'timed-out' : 'ended-elsewhere';
}

export function decide(input: DecideInput): Decision {
  const { state, config, nowMs } = input;
  const deadline = deadlineMs(state, config);
  const waited = formatSeconds((nowMs - state.firstSeenMs) / 1000);
  // A command in flight is followed under the terms it was sent with.
  const document =
    state.ssm?.documentName ?? config.ssm?.documentName ?? 'the pre-termination command';
  const heartbeat =
    !input.dryRun && heartbeatDue(state, nowMs, config.heartbeatMarginSeconds, input.phase);

  if (nowMs >= deadline) {
    // An instance that is done anyway is released as such: the deadline warning is for work cut.
    if (state.ssm && input.command?.state === 'success') {
      return { kind: 'release', result: 'CONTINUE', reason: `idle, and ${document} succeeded` };
    }
    if (!state.ssm && input.probe?.status === 'idle') {
      const skipped = config.ssm ? `, no time left to run ${config.ssm.documentName}` : '';
      return { kind: 'release', result: 'CONTINUE', reason: `idle at the deadline${skipped}` };
    }
    // A command still running when the gate gives up is cancelled, and the notice says so.
    const running = state.ssm !== undefined && input.command?.state === 'pending';
    return {
      kind: 'deadline',
      result: config.onDeadline,
      ...(running ? { cancelCommand: true } : {}),
      reason: `deadline reached after ${waited}${state.ssm ? ' (pre-termination command unfinished)' : ''}`,
    };
  }
  if (input.dryRun && nowMs >= state.lastHeartbeatMs + state.hook.heartbeatTimeoutSeconds * 1000) {
    return {
      kind: 'expired',
      reason: `dry run: no heartbeats were sent, so the hook timed out after ${formatSeconds(
        state.hook.heartbeatTimeoutSeconds,
      )} and Auto Scaling applied its DefaultResult`,
    };
  }

  const untilDeadline = (deadline - nowMs) / 1000;
  const delay = (untilSeconds = untilDeadline) =>
    recheckDelaySeconds(
      config.recheckSeconds,
      state.hook.heartbeatTimeoutSeconds,
      input.random,
      Math.min(untilSeconds, untilDeadline),
    );
  const advance = (changes: Partial<StepState>): StepState => ({
    ...state,
    attempt: state.attempt + 1,
    ...changes,
  });

  if (state.ssm) {
    const command = input.command;
    if (!command) throw new Error('decide: a command is in flight but its status was not given');
    switch (command.state) {
      case 'success':
        return { kind: 'release', result: 'CONTINUE', reason: `idle, and ${document} succeeded` };
      case 'failed':
        return {
          kind: 'ssm-failed',
          result: config.onSsmFailure,
          reason: `${document} failed${command.detail ? `: ${command.detail}` : ''}`,
        };
      case 'pending': {
        // The limit the command was sent with; a message of an older gate has none, and the
        // command may outlive a config change that removed it: then the default applies.
        const timeoutSeconds =
          state.ssm.timeoutSeconds ?? config.ssm?.timeoutSeconds ?? GATE_DEFAULTS.ssmTimeoutSeconds;
        const runningSeconds = (nowMs - state.ssm.sentAtMs) / 1000;
        if (runningSeconds >= timeoutSeconds) {
          return {
            kind: 'ssm-failed',
            result: config.onSsmFailure,
            reason: `${document} did not finish within ${formatSeconds(timeoutSeconds)}`,
            cancelCommand: true,
          };
        }
        return {
          kind: 'wait-ssm',
          reason: `${document} still running`,
          delaySeconds: delay(timeoutSeconds - runningSeconds),
          next: advance({}),
          heartbeat,
        };
      }
    }
  }

  const probe = input.probe;
  if (!probe) throw new Error('decide: no probe result and no command in flight');
  switch (probe.status) {
    case 'busy':
      return {
        kind: 'hold',
        reason: 'busy',
        delaySeconds: delay(),
        next: advance({ unknowns: 0 }),
        notifyHolding: !state.holdingNotified,
        heartbeat,
      };
    case 'idle':
      if (config.ssm && !input.dryRun) {
        return {
          kind: 'run-ssm',
          reason: `idle: running ${config.ssm.documentName} before release`,
          delaySeconds: delay(),
          next: advance({ unknowns: 0 }),
          // Always: it proves the action is still live before the command starts, and the
          // command's run then begins with a full HeartbeatTimeout.
          heartbeat: true,
        };
      }
      return {
        kind: 'release',
        result: 'CONTINUE',
        reason: config.ssm ? `idle (would run ${config.ssm.documentName} first)` : 'idle',
      };
    case 'unknown': {
      const why = probe.reason ?? 'no usable answer';
      if (probe.apiFailure) {
        // The API failed, not the instance (ECS mode): no evidence it is unreachable.
        return {
          kind: 'hold',
          reason: `unknown: ${why} (an API failure: not counted towards the unknown limit)`,
          delaySeconds: delay(),
          next: advance({}),
          notifyHolding: false,
          heartbeat,
        };
      }
      const unknowns = state.unknowns + 1;
      if (unknowns >= config.unknownLimit) {
        return {
          kind: 'release-unreachable',
          result: 'CONTINUE',
          reason: `unreachable: ${unknowns} unknown answers in a row (last: ${why})`,
        };
      }
      return {
        kind: 'hold',
        reason: `unknown answer ${unknowns} of ${config.unknownLimit} (${why})`,
        delaySeconds: delay(),
        next: advance({ unknowns }),
        notifyHolding: false,
        heartbeat,
      };
    }
  }
}

/** "42 s", "7 min", "2 h 5 min" — for reasons and notification subjects. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 120) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

function clamp01(x: number): number {
  return Math.min(Math.max(x, 0), 0.999_999);
}
