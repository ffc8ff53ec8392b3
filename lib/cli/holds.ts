/**
 * Instances held by lifecycle hooks, as `themis holds` and `themis release` see them. Pure:
 * given the group's members, hooks, recent activities, probe answers and `now`, say who is
 * held, since when, by which hook and until when.
 *
 * What Auto Scaling tells and what it does not: a member's lifecycle state says it waits
 * (`…:Wait`) or was kept after its action ended (`…:Retained`); the hooks give each action's
 * heartbeat and global timeouts; the scaling activity that moved the instance
 * (`Terminating EC2 instance: i-…`, status `MidLifecycleAction`) gives when the action
 * started. No API gives the last heartbeat, so the heartbeat deadline is shown as a timeout,
 * and when no unfinished activity names the instance, the start is unknown.
 */
import { LAUNCHING, TERMINATING } from '../aws/facts.js';
import type {
  GroupInstance,
  HookInfo,
  LifecycleResult,
  ProbeResult,
  ScalingActivity,
} from '../ports.js';

export { LAUNCHING };

/**
 * How many recent activities `holds` reads to find when each action started (one page of
 * DescribeScalingActivities is 100). A hold older than that shows "unknown", never a guess.
 */
export const ACTIVITIES_READ = 300;

/** Activity states after which the activity no longer describes a running lifecycle action. */
const FINISHED_ACTIVITY = new Set(['Successful', 'Failed', 'Cancelled']);

/**
 * 'wait': in a lifecycle action (Pending:Wait, Terminating:Wait, Warmed:*:Wait) — release
 * can complete it. 'retained': its action ended and Auto Scaling kept the instance
 * (Terminating:Retained, Warmed:*:Retained) — there is no action left to complete.
 */
export type HoldKind = 'wait' | 'retained';

export function holdKind(lifecycleState: string): HoldKind | undefined {
  if (lifecycleState.endsWith(':Wait')) return 'wait';
  if (lifecycleState.endsWith(':Retained')) return 'retained';
  return undefined;
}

/** The hook transition that holds an instance in this state (undefined: no hook does). */
export function transitionOf(lifecycleState: string): string | undefined {
  const phase = lifecycleState.replace(/^Warmed:/, '').split(':')[0];
  if (phase === 'Terminating') return TERMINATING;
  if (phase === 'Pending') return LAUNCHING;
  return undefined;
}

/**
 * When the instance's current lifecycle action started: the newest unfinished activity that
 * names the instance. `activities` are newest first, as DescribeScalingActivities returns them.
 */
export function actionStartMs(
  activities: readonly ScalingActivity[],
  instanceId: string,
): number | undefined {
  const names = new RegExp(`\\b${instanceId.replace(/[^A-Za-z0-9-]/g, '')}\\b`);
  for (const a of activities) {
    if (!names.test(a.description)) continue;
    // The newest activity about this instance decides: a finished one means the start of
    // the current hold is not in what we read.
    if (FINISHED_ACTIVITY.has(a.statusCode)) return undefined;
    return a.startTimeMs;
  }
  return undefined;
}

export interface HookDeadline {
  hookName: string;
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  /** ISO time the action ends at the latest (start + global timeout); null when the start is unknown. */
  globalDeadline: string | null;
  /** Seconds from now to globalDeadline (negative: already past); null when unknown. */
  secondsLeft: number | null;
}

export interface HoldRow {
  instanceId: string;
  availabilityZone: string | null;
  lifecycleState: string;
  hold: HoldKind;
  /** ISO start of the lifecycle action; null when unknown. */
  waitingSince: string | null;
  waitedSeconds: number | null;
  /** busy | idle | unknown | skipped (no address) */
  probe: string;
  reason: string | null;
  latencyMs: number | null;
  address: string | null;
  /** The hooks of this instance's transition (usually one). */
  hooks: HookDeadline[];
}

export interface HoldsInput {
  /** The group's members and its warm pool's instances. */
  instances: readonly GroupInstance[];
  hooks: readonly HookInfo[];
  activities: readonly ScalingActivity[];
  addresses: ReadonlyMap<string, string>;
  probes: ReadonlyMap<string, ProbeResult>;
  nowMs: number;
}

/** Held instances only, sorted by id. */
export function heldInstances(instances: readonly GroupInstance[]): GroupInstance[] {
  return instances
    .filter((i) => holdKind(i.lifecycleState) !== undefined)
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

export function holdRows(input: HoldsInput): HoldRow[] {
  return heldInstances(input.instances).map((instance) => {
    const startMs = actionStartMs(input.activities, instance.instanceId);
    const transition = transitionOf(instance.lifecycleState);
    const probe = input.probes.get(instance.instanceId);
    const address = input.addresses.get(instance.instanceId) ?? null;
    return {
      instanceId: instance.instanceId,
      availabilityZone: instance.availabilityZone ?? null,
      lifecycleState: instance.lifecycleState,
      hold: holdKind(instance.lifecycleState)!,
      waitingSince: startMs === undefined ? null : new Date(startMs).toISOString(),
      waitedSeconds: startMs === undefined ? null : Math.floor((input.nowMs - startMs) / 1000),
      probe: probe ? probe.status : 'skipped',
      reason: probe ? (probe.reason ?? null) : address ? 'not probed' : 'no private IP address',
      latencyMs: probe ? probe.latencyMs : null,
      address,
      hooks: input.hooks
        .filter((h) => h.transition === transition)
        .map((h) => {
          const deadlineMs =
            startMs === undefined ? undefined : startMs + h.globalTimeoutSeconds * 1000;
          return {
            hookName: h.hookName,
            heartbeatTimeoutSeconds: h.heartbeatTimeoutSeconds,
            globalTimeoutSeconds: h.globalTimeoutSeconds,
            defaultResult: h.defaultResult,
            globalDeadline: deadlineMs === undefined ? null : new Date(deadlineMs).toISOString(),
            secondsLeft:
              deadlineMs === undefined ? null : Math.floor((deadlineMs - input.nowMs) / 1000),
          };
        }),
    };
  });
}

/**
 * Which hook's action to complete for an instance in `lifecycleState`: the one named, or the
 * only hook of its transition. Throws (a one-line reason) when that cannot be decided.
 */
export function chooseHook(
  hooks: readonly HookInfo[],
  lifecycleState: string,
  groupName: string,
  named?: string,
): HookInfo {
  if (named !== undefined) {
    const hook = hooks.find((h) => h.hookName === named);
    if (!hook) throw new Error(`group ${groupName} has no lifecycle hook named "${named}"`);
    return hook;
  }
  const transition = transitionOf(lifecycleState);
  const candidates = hooks.filter((h) => h.transition === transition);
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new Error(
      `group ${groupName} has no ${transition ?? lifecycleState} lifecycle hook; pass --hook if it was just deleted`,
    );
  }
  throw new Error(
    `${lifecycleState} may be held by any of the hooks ${candidates.map((h) => h.hookName).join(', ')}: pass --hook`,
  );
}

/** What Auto Scaling does next when the action is completed with `result` (for the prompt). */
export function releaseConsequence(lifecycleState: string, result: LifecycleResult): string {
  const warm = lifecycleState.startsWith('Warmed:');
  if (transitionOf(lifecycleState) === LAUNCHING) {
    return result === 'CONTINUE'
      ? warm
        ? 'it goes on into the warm pool'
        : 'it goes InService'
      : 'Auto Scaling terminates it';
  }
  return result === 'CONTINUE'
    ? 'Auto Scaling terminates it'
    : 'Auto Scaling terminates it, skipping the remaining terminate hooks';
}

/** "1h02m", "4m05s", "12s": short enough for a table cell. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}
