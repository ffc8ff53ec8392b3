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
 *                         pending too long  → ssm-failed
 *                         pending           → wait-ssm (heartbeat, recheck)
 *   4. busy                                 → hold (heartbeat, recheck)
 *   5. idle, a command is configured        → run-ssm (send it, heartbeat, recheck)
 *      idle                                 → release (complete with CONTINUE)
 *   6. unknown, the N-th in a row           → release-unreachable
 *      unknown                              → hold
 *
 * Invariant: every path ends in a completion or schedules another step, and no step is
 * scheduled past the deadline, so every lifecycle action gets an outcome from the gate.
 */
import type { CommandState, LifecycleResult, ProbeResult } from '../ports.js';
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
  'recheckSeconds' | 'maxWaitSeconds' | 'unknownLimit' | 'onDeadline' | 'onSsmFailure' | 'ssm'
>;

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
}

/** Decisions that end the hold with a CompleteLifecycleAction. */
export type TerminalKind = 'release' | 'release-unreachable' | 'deadline' | 'ssm-failed';

export type Decision =
  | {
      kind: 'hold';
      reason: string;
      delaySeconds: number;
      next: StepState;
      /** The first busy step: tell operators the instance is being held. */
      notifyHolding: boolean;
    }
  | { kind: 'run-ssm'; reason: string; delaySeconds: number; next: StepState }
  | { kind: 'wait-ssm'; reason: string; delaySeconds: number; next: StepState }
  | { kind: TerminalKind; reason: string; result: LifecycleResult }
  | { kind: 'expired'; reason: string };

/** When the gate stops waiting: min(maxWait, global timeout − margin) after first sight. */
export function deadlineMs(state: StepState, config: Pick<GateConfig, 'maxWaitSeconds'>): number {
  const hookLimit = state.hook.globalTimeoutSeconds - DEADLINE_MARGIN_SECONDS;
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
  const delay = Math.max(1, base - jitter);
  return Math.min(delay, Math.max(0, Math.ceil(untilSeconds)));
}

export function decide(input: DecideInput): Decision {
  const { state, config, nowMs } = input;
  const deadline = deadlineMs(state, config);
  const waited = formatSeconds((nowMs - state.firstSeenMs) / 1000);
  const document = config.ssm?.documentName ?? 'the pre-termination command';

  if (nowMs >= deadline) {
    // An instance that is done anyway is released as such: the deadline warning is for work cut.
    if (state.ssm && input.command?.state === 'success') {
      return { kind: 'release', result: 'CONTINUE', reason: `idle, and ${document} succeeded` };
    }
    if (!state.ssm && input.probe?.status === 'idle') {
      const skipped = config.ssm ? `, no time left to run ${config.ssm.documentName}` : '';
      return { kind: 'release', result: 'CONTINUE', reason: `idle at the deadline${skipped}` };
    }
    return {
      kind: 'deadline',
      result: config.onDeadline,
      reason: `deadline reached after ${waited}${state.ssm ? ' (pre-termination command unfinished)' : ''}`,
    };
  }
  if (input.dryRun && nowMs >= state.firstSeenMs + state.hook.heartbeatTimeoutSeconds * 1000) {
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
        // The command outlives a config change that removed it: fall back to the default limit.
        const timeoutSeconds = config.ssm?.timeoutSeconds ?? GATE_DEFAULTS.ssmTimeoutSeconds;
        const runningSeconds = (nowMs - state.ssm.sentAtMs) / 1000;
        if (runningSeconds >= timeoutSeconds) {
          return {
            kind: 'ssm-failed',
            result: config.onSsmFailure,
            reason: `${document} did not finish within ${formatSeconds(timeoutSeconds)}`,
          };
        }
        return {
          kind: 'wait-ssm',
          reason: `${document} still running`,
          delaySeconds: delay(timeoutSeconds - runningSeconds),
          next: advance({}),
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
        next: advance({ unknowns: 0, holdingNotified: true }),
        notifyHolding: !state.holdingNotified,
      };
    case 'idle':
      if (config.ssm && !input.dryRun) {
        return {
          kind: 'run-ssm',
          reason: `idle: running ${config.ssm.documentName} before release`,
          delaySeconds: delay(),
          next: advance({ unknowns: 0 }),
        };
      }
      return {
        kind: 'release',
        result: 'CONTINUE',
        reason: config.ssm ? `idle (would run ${config.ssm.documentName} first)` : 'idle',
      };
    case 'unknown': {
      const unknowns = state.unknowns + 1;
      const why = probe.reason ?? 'no usable answer';
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
