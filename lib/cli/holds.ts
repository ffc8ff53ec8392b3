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
import {
  isRetainedState,
  LAUNCHING,
  TERMINATING,
  TERMINATING_RETAINED,
  WARMED_PENDING_RETAINED,
  WARMED_TERMINATING_RETAINED,
} from '../aws/facts.js';
import { retainedKind } from '../retain/decide.js';
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
  if (isRetainedState(lifecycleState)) return 'retained';
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
 * When the termination that ended in retention began: the newest activity that names the
 * instance, whatever its status (the action is over; AWS documents no activity for the
 * retention itself, so the moment it was retained is not known — only that it came later).
 */
export function terminationStartMs(
  activities: readonly ScalingActivity[],
  instanceId: string,
): number | undefined {
  const names = new RegExp(`\\b${instanceId.replace(/[^A-Za-z0-9-]/g, '')}\\b`);
  return activities.find((a) => names.test(a.description))?.startTimeMs;
}

/**
 * What is true of a retained instance: no hook holds it and no deadline ends it. It stays
 * until TerminateInstanceInAutoScalingGroup is called for it — by themis's protect once it
 * answers IDLE (Terminating:Retained), or by an operator (the warm pool's retained states,
 * on which that call is refused).
 */
export interface Retention {
  /** ISO start of the termination that ended in retention; null when no activity read names it. */
  terminationStarted: string | null;
  /** Seconds since terminationStarted; null when unknown. */
  terminationSeconds: number | null;
  /** Who ends it. */
  endedBy: 'themis-once-idle' | 'operator';
  /** One line for people. */
  keptUntil: string;
}

/** Plain words for how long a retained instance in `lifecycleState` is kept. */
export function keptUntil(lifecycleState: string): Pick<Retention, 'endedBy' | 'keptUntil'> {
  if (retainedKind(lifecycleState) === 'group') {
    return {
      endedBy: 'themis-once-idle',
      keptUntil:
        'kept until idle: protect terminates it (TerminateInstanceInAutoScalingGroup) once it answers IDLE; no hook deadline',
    };
  }
  return {
    endedBy: 'operator',
    keptUntil: `kept until an operator terminates it: ${lifecycleState} is a warm-pool state that themis does not end; no hook deadline`,
  };
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
  /** The hooks of this instance's transition (usually one); none for a retained instance. */
  hooks: HookDeadline[];
  /** For a retained instance only: what keeps it and since when. */
  retention?: Retention;
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
    const hold = holdKind(instance.lifecycleState)!;
    const probe = input.probes.get(instance.instanceId);
    const address = input.addresses.get(instance.instanceId) ?? null;
    const common = {
      instanceId: instance.instanceId,
      availabilityZone: instance.availabilityZone ?? null,
      lifecycleState: instance.lifecycleState,
      hold,
      probe: probe ? probe.status : 'skipped',
      reason: probe ? (probe.reason ?? null) : address ? 'not probed' : 'no private IP address',
      latencyMs: probe ? probe.latencyMs : null,
      address,
    };
    if (hold === 'retained') {
      // Its action is over: it is not waiting, and no hook deadline applies any more.
      const startedMs = terminationStartMs(input.activities, instance.instanceId);
      return {
        ...common,
        waitingSince: null,
        waitedSeconds: null,
        hooks: [],
        retention: {
          terminationStarted: startedMs === undefined ? null : new Date(startedMs).toISOString(),
          terminationSeconds:
            startedMs === undefined ? null : Math.floor((input.nowMs - startedMs) / 1000),
          ...keptUntil(instance.lifecycleState),
        },
      };
    }
    const startMs = actionStartMs(input.activities, instance.instanceId);
    const transition = transitionOf(instance.lifecycleState);
    return {
      ...common,
      waitingSince: startMs === undefined ? null : new Date(startMs).toISOString(),
      waitedSeconds: startMs === undefined ? null : Math.floor((input.nowMs - startMs) / 1000),
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

/**
 * Where a retaining group keeps an instance whose terminate lifecycle action is abandoned
 * (manage-retained-instances): a termination out of the group in Terminating:Retained, a
 * return to the warm pool (Warmed:Pending:Wait under a terminate hook) in
 * Warmed:Pending:Retained, a termination from the pool in Warmed:Terminating:Retained.
 */
export function retainedStateAfterAbandon(lifecycleState: string): string {
  if (lifecycleState.startsWith('Warmed:Pending')) return WARMED_PENDING_RETAINED;
  if (lifecycleState.startsWith('Warmed:Terminating')) return WARMED_TERMINATING_RETAINED;
  return TERMINATING_RETAINED;
}

export interface ReleaseContext {
  /** The transition of the hook being completed (default: the one its state implies). */
  transition?: string;
  /**
   * The group's instance lifecycle policy retains abandoned terminating instances
   * (DescribeAutoScalingGroups); undefined when not known.
   */
  retainsOnAbandon?: boolean;
}

/** What Auto Scaling does next when the action is completed with `result` (for the prompt). */
export function releaseConsequence(
  lifecycleState: string,
  result: LifecycleResult,
  context: ReleaseContext = {},
): string {
  const warm = lifecycleState.startsWith('Warmed:');
  const transition = context.transition ?? transitionOf(lifecycleState);
  if (transition === LAUNCHING) {
    return result === 'CONTINUE'
      ? warm
        ? 'it goes on into the warm pool'
        : 'it goes InService'
      : 'Auto Scaling terminates it';
  }
  const returning = lifecycleState.startsWith('Warmed:Pending');
  if (result === 'CONTINUE') {
    return returning ? 'it goes back into the warm pool' : 'Auto Scaling terminates it';
  }
  // ABANDON of a terminate lifecycle action: the group's instance lifecycle policy decides.
  const terminated = 'Auto Scaling terminates it, skipping the remaining terminate hooks';
  const kept = retainedStateAfterAbandon(lifecycleState);
  const retained =
    `Auto Scaling keeps it running in ${kept} (the group retains abandoned instances), ` +
    'outside the desired capacity, until TerminateInstanceInAutoScalingGroup is called for it' +
    (kept === TERMINATING_RETAINED
      ? " (themis's protect calls it once the instance answers IDLE)"
      : ' (by an operator: themis does not end warm-pool retained instances)');
  if (context.retainsOnAbandon === true) return retained;
  if (context.retainsOnAbandon === false) return terminated;
  return `if the group retains abandoned instances (InstanceLifecyclePolicy), ${retained}; otherwise ${terminated}`;
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
