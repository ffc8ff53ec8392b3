/**
 * The launch-readiness gate (`autoscaling:EC2_INSTANCE_LAUNCHING`), as pure decisions.
 *
 * Opt-in per group: the tag `themis:launch-gate=true`. A launching instance waits in
 * Pending:Wait (Warmed:Pending:Wait on its way into a warm pool) until its worker answers
 * the probe at all — BUSY or IDLE both mean it is up — and is then completed with CONTINUE.
 * No answer (unknown: refused, timeout, another body) means "not yet": there is no unknown
 * limit for those, only the deadline, at which the launch is completed with ABANDON (Auto
 * Scaling then terminates the instance and launches another) and operators are told. In ECS
 * mode the instance is ready once it is an ACTIVE container instance of the group's cluster.
 *
 * When the gate cannot ask at all (`setupFailure`: ECS refuses with AccessDenied, the cluster
 * does not exist), waiting says nothing about the instance, and abandoning at the deadline
 * would replace every launch of the group, for ever. After `unknownLimit` such steps in a row
 * (a few, so that a permission still propagating after a deploy is waited out) the launch is
 * let in with CONTINUE unchecked, and the operators are warned (`launch-unchecked`). In a
 * launch chain `unknowns` counts those steps only.
 *
 * Whose launch actions these are (`launchOwnership`): a launch hook is themis's when its name
 * is THEMIS_LAUNCH_HOOK_NAME (the deploy sets it when it installs the hook); without that
 * variable, a group that carries the tag has opted in whatever its hook is called. Another
 * tool's launch hook is left alone (ignored): completing it would cut that tool's own custom
 * action short. themis's hook on a group without the tag is completed with CONTINUE at once.
 *
 * Abandons in a row are counted per group in the group tag `themis:launch-abandons`
 * ("<count> <ISO time of the last>"), read with the DescribeAutoScalingGroups every step makes
 * anyway and written (best effort) with CreateOrUpdateTags; a ready launch deletes it. From
 * LAUNCH_LOOP_THRESHOLD on, the abandon notice says a replacement loop is likely.
 */
import type { LifecycleResult, ProbeResult } from '../ports.js';
import { MAX_RECHECK_SECONDS, type GateConfig } from './config.js';
import {
  DEADLINE_MARGIN_SECONDS,
  formatSeconds,
  heartbeatDue,
  recheckDelaySeconds,
  type Decision,
} from './decide.js';
import type { StepState } from './state.js';
import { PASSAGES, type Passage } from './warm-pool.js';

/** The group tag that turns the launch gate on. */
export const LAUNCH_GATE_TAG = 'themis:launch-gate';
/** The group tag that carries the count of launches abandoned in a row. */
export const LAUNCH_ABANDONS_TAG = 'themis:launch-abandons';
/** From this many abandons in a row the notice warns of a replacement loop. */
export const LAUNCH_LOOP_THRESHOLD = 3;

export const LAUNCH_DEFAULTS = Object.freeze({
  // Long enough for a slow bootstrap (packages, a container image pull), short enough that a
  // launch that will never come up is replaced within the hour.
  maxWaitSeconds: 1800,
});

export type LaunchConfig = Pick<
  GateConfig,
  | 'recheckSeconds'
  | 'heartbeatMarginSeconds'
  | 'launchHookName'
  | 'launchMaxWaitSeconds'
  | 'unknownLimit'
>;

/** What the gate does with a launch action. */
export type LaunchOwnership = 'gate' | 'continue' | 'not-ours';

export function launchGateOn(tags: Record<string, string>): boolean {
  return tags[LAUNCH_GATE_TAG]?.trim().toLowerCase() === 'true';
}

export function launchOwnership(
  hookName: string,
  tags: Record<string, string>,
  config: Pick<GateConfig, 'launchHookName'>,
): LaunchOwnership {
  const tagged = launchGateOn(tags);
  const ours = config.launchHookName !== undefined ? hookName === config.launchHookName : tagged;
  if (!ours) return 'not-ours';
  return tagged ? 'gate' : 'continue';
}

/**
 * When the launch gate gives up: min(THEMIS_LAUNCH_MAX_WAIT_SECONDS, the hook's global
 * timeout − margin) after first sight, the margin as for terminations (decide.ts).
 */
export function launchDeadlineMs(state: StepState, config: LaunchConfig): number {
  const marginSeconds = Math.max(DEADLINE_MARGIN_SECONDS, config.heartbeatMarginSeconds);
  const hookLimit = state.hook.globalTimeoutSeconds - marginSeconds;
  const maxWait = config.launchMaxWaitSeconds ?? LAUNCH_DEFAULTS.maxWaitSeconds;
  return state.firstSeenMs + Math.max(0, Math.min(maxWait, hookLimit)) * 1000;
}

export interface LaunchDecideInput {
  state: StepState;
  probe: ProbeResult;
  passage: Passage;
  config: LaunchConfig;
  dryRun: boolean;
  nowMs: number;
  /** [0, 1), for the recheck jitter. */
  random: number;
  /** The action's own number in [0, 1) (decide.ts: actionPhase). */
  phase: number;
}

/**
 * One step of a launch chain, in the gate's Decision shape so that step.ts carries it out as
 * it does a termination: `release` = CONTINUE (ready), `deadline` = ABANDON, `hold` = wait.
 *
 *   1. the probe answered (busy or idle)      → release (CONTINUE), even at the deadline
 *   2. the gate cannot ask, unknownLimit-th   → release-unreachable (CONTINUE, unchecked)
 *      step in a row
 *   3. deadline passed                        → deadline (ABANDON)
 *   4. dry run and the hook has timed out     → expired
 *   5. unknown                                → hold (heartbeat when due)
 */
export function decideLaunch(input: LaunchDecideInput): Decision {
  const { state, probe, config, nowMs } = input;
  const waited = formatSeconds((nowMs - state.firstSeenMs) / 1000);
  const into = PASSAGES[input.passage].releasedFor;
  if (probe.status !== 'unknown') {
    return {
      kind: 'release',
      result: 'CONTINUE',
      reason: `ready: the worker answered ${probe.status.toUpperCase()} after ${waited}; ${into}`,
    };
  }
  const why = probe.reason ?? 'no usable answer';
  const cannotAsk = probe.setupFailure ? state.unknowns + 1 : 0;
  if (cannotAsk >= config.unknownLimit) {
    return {
      kind: 'release-unreachable',
      result: 'CONTINUE',
      reason: `readiness could not be checked on ${cannotAsk} steps in a row (last: ${why}); let in unchecked rather than abandon every launch of the group; ${into}`,
    };
  }
  const deadline = launchDeadlineMs(state, config);
  if (nowMs >= deadline) {
    return {
      kind: 'deadline',
      result: 'ABANDON',
      reason: `not ready after ${waited} (last: ${why}); Auto Scaling terminates it and launches another`,
    };
  }
  if (input.dryRun && nowMs >= state.lastHeartbeatMs + state.hook.heartbeatTimeoutSeconds * 1000) {
    return {
      kind: 'expired',
      reason: `dry run: no heartbeats were sent, so the launch hook timed out after ${formatSeconds(
        state.hook.heartbeatTimeoutSeconds,
      )} and Auto Scaling applied its DefaultResult`,
    };
  }
  const delaySeconds = recheckDelaySeconds(
    Math.min(config.recheckSeconds, MAX_RECHECK_SECONDS),
    state.hook.heartbeatTimeoutSeconds,
    input.random,
    (deadline - nowMs) / 1000,
  );
  return {
    kind: 'hold',
    reason: cannotAsk
      ? `readiness could not be checked (${why}; ${cannotAsk} of ${config.unknownLimit} steps in a row before the launch is let in unchecked)`
      : `not ready yet (${why})`,
    delaySeconds,
    next: { ...state, attempt: state.attempt + 1, unknowns: cannotAsk },
    notifyHolding: false,
    heartbeat:
      !input.dryRun && heartbeatDue(state, nowMs, config.heartbeatMarginSeconds, input.phase),
  };
}

/** ECS mode: the container instance's registration stands in for the probe's answer. */
export function ecsReadiness(status: string | undefined): ProbeResult {
  if (status === 'ACTIVE') return { status: 'idle', reason: 'ACTIVE in the cluster', latencyMs: 0 };
  return {
    status: 'unknown',
    reason:
      status === undefined
        ? 'not registered in the cluster yet'
        : `container instance is ${status.slice(0, 40)}`,
    latencyMs: 0,
  };
}

// ── Abandons in a row ────────────────────────────────────────────────────────────────────────

export interface AbandonStreak {
  count: number;
  /** When the last one was abandoned (epoch ms); absent when the tag had no readable time. */
  lastMs?: number;
}

/** Read the tag; a missing or unreadable value is no streak. */
export function readAbandonStreak(tags: Record<string, string>): AbandonStreak {
  const value = tags[LAUNCH_ABANDONS_TAG]?.trim();
  const match = value ? /^(\d{1,6})(?:\s+(\S+))?$/.exec(value) : null;
  if (!match) return { count: 0 };
  const lastMs = match[2] ? Date.parse(match[2]) : NaN;
  return { count: Number(match[1]), ...(Number.isFinite(lastMs) ? { lastMs } : {}) };
}

/** The streak after one more abandon at `nowMs`, and the tag value that records it. */
export function nextAbandonStreak(
  previous: AbandonStreak,
  nowMs: number,
): { streak: AbandonStreak; tagValue: string; loopLikely: boolean } {
  const count = previous.count + 1;
  return {
    streak: { count, lastMs: nowMs },
    tagValue: `${count} ${new Date(nowMs).toISOString()}`,
    loopLikely: count >= LAUNCH_LOOP_THRESHOLD,
  };
}

/** The sentence an abandon notice adds about the streak. */
export function streakSentence(previous: AbandonStreak, count: number): string {
  if (count < 2) return '';
  const last =
    previous.lastMs !== undefined
      ? `, the previous one at ${new Date(previous.lastMs).toISOString()}`
      : '';
  const loop =
    count >= LAUNCH_LOOP_THRESHOLD
      ? ' A replacement loop is likely: every new instance fails the same way. Check the launch template, the AMI and the worker before Auto Scaling launches more.'
      : '';
  return `This is launch ${count} in a row that themis abandoned in this group${last}.${loop}`;
}

export type { LifecycleResult };
