/**
 * Instance retention, as pure decisions. An Auto Scaling group whose instance lifecycle policy
 * says InstanceLifecyclePolicy.RetentionTriggers.TerminateHookAbandon = retain keeps an
 * instance whose terminate lifecycle action is abandoned — explicitly (CompleteLifecycleAction
 * ABANDON), or by a heartbeat or global timeout of a hook whose DefaultResult is ABANDON — in
 * Terminating:Retained. It no longer counts toward the desired capacity (the group launches a
 * replacement) and stays until TerminateInstanceInAutoScalingGroup is called for it.
 * (AWS: API_RetentionTriggers, configure-instance-retention.html, manage-retained-instances.html.)
 *
 * Two decisions live here:
 *   1. what a failure policy (THEMIS_ON_DEADLINE / THEMIS_ON_SSM_FAILURE) means for one
 *      completion, given the group's policy: RETAIN completes with ABANDON only when the group
 *      retains — never a silent ABANDON that terminates;
 *   2. what to do with a retained instance on a protect scan: terminate it once it answers
 *      IDLE, keep it otherwise. Unknown never terminates.
 */
import {
  isRetainedState,
  RETAIN_ON_ABANDON,
  TERMINATING_RETAINED,
  WARMED_PENDING_RETAINED,
  WARMED_TERMINATING_RETAINED,
} from '../aws/facts.js';
import type { Passage } from '../gate/warm-pool.js';
import type { LifecycleResult, ProbeResult } from '../ports.js';

/** What the gate completes with when it gives up: a lifecycle result, or RETAIN. */
export type FailurePolicy = LifecycleResult | 'RETAIN';

export const FAILURE_POLICIES = [
  'CONTINUE',
  'ABANDON',
  'RETAIN',
] as const satisfies readonly FailurePolicy[];

/** The group as the step read it (DescribeAutoScalingGroups); undefined when it was not found. */
export interface GroupRetention {
  name: string;
  retainsOnAbandon?: boolean;
}

export interface Completion {
  /** What CompleteLifecycleAction is called with. */
  result: LifecycleResult;
  /** The instance stays running in a Retained state (retainedStateOf) after this completion. */
  retained: boolean;
  /**
   * RETAIN was asked for, but the group does not retain: the action is completed with CONTINUE
   * (the instance is terminated either way) and this says why and how to enable retention.
   */
  retentionMissing?: string;
}

/**
 * Where a retaining group keeps an abandoned instance, by passage (AWS: "Manage retained
 * instances"): a return to the warm pool waits in Warmed:Pending:Retained, a termination from
 * the pool in Warmed:Terminating:Retained. protect watches Terminating:Retained only.
 */
export function retainedStateOf(passage: Passage): string {
  if (passage === 'return-to-pool') return WARMED_PENDING_RETAINED;
  if (passage === 'terminate-from-pool') return WARMED_TERMINATING_RETAINED;
  return TERMINATING_RETAINED;
}

/** themis terminates a retained instance once idle only from Terminating:Retained. */
export function releasedByThemis(passage: Passage): boolean {
  return retainedStateOf(passage) === TERMINATING_RETAINED;
}

/**
 * The completion a failure policy stands for. ABANDON on a group that retains retains too
 * (Auto Scaling decides that, not themis), and the notice must say so. RETAIN retains only a
 * termination out of the group: a warm-pool passage would stay in a Warmed:*:Retained state
 * that themis never reads, so it is completed with CONTINUE and the notice says why.
 */
export function resolveCompletion(
  policy: FailurePolicy,
  group: GroupRetention | undefined,
  groupName: string,
  passage: Passage = 'terminate',
): Completion {
  const retains = group?.retainsOnAbandon === true;
  switch (policy) {
    case 'CONTINUE':
      return { result: 'CONTINUE', retained: false };
    case 'ABANDON':
      return { result: 'ABANDON', retained: retains };
    case 'RETAIN':
      if (retains && releasedByThemis(passage)) return { result: 'ABANDON', retained: true };
      if (retains)
        return {
          result: 'CONTINUE',
          retained: false,
          retentionMissing: `RETAIN is configured, but this action (${passage}) would leave the instance in ${retainedStateOf(passage)}, a warm-pool state themis does not watch (retention in themis covers terminations out of the group only), so nothing would ever end it: themis completed with CONTINUE`,
        };
      return {
        result: 'CONTINUE',
        retained: false,
        retentionMissing: `RETAIN is configured, but ${
          group
            ? `group ${groupName} does not retain abandoned instances`
            : `group ${groupName} could not be read`
        }, so an ABANDON would terminate the instance too: themis completed with CONTINUE. Enable retention with: ${enableRetentionCommand(groupName)}`,
      };
  }
}

/** The one CLI command that makes a group retain abandoned terminating instances. */
export function enableRetentionCommand(groupName: string): string {
  return `aws autoscaling update-auto-scaling-group --auto-scaling-group-name ${shellWord(groupName)} --instance-lifecycle-policy 'RetentionTriggers={TerminateHookAbandon=${RETAIN_ON_ABANDON}}'`;
}

/** A group name as one shell word (names may hold spaces and quotes). */
function shellWord(text: string): string {
  return /^[A-Za-z0-9._:/@-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Retained states (every one AWS documents, RETAINED_STATES), by whether
 * TerminateInstanceInAutoScalingGroup may be called on them: 'group' for Terminating:Retained,
 * 'warm-pool' for the two Warmed:*:Retained states.
 */
export function retainedKind(lifecycleState: string): 'group' | 'warm-pool' | undefined {
  if (!isRetainedState(lifecycleState)) return undefined;
  return lifecycleState === TERMINATING_RETAINED ? 'group' : 'warm-pool';
}

export type RetainedDecision =
  { kind: 'terminate'; reason: string } | { kind: 'keep'; reason: string };

/**
 * One retained instance on one scan. `probe` is undefined when it could not be asked (no
 * private address): kept, like an unknown answer.
 */
export function decideRetained(
  instance: { lifecycleState: string },
  probe: Pick<ProbeResult, 'status' | 'reason'> | undefined,
): RetainedDecision {
  const kind = retainedKind(instance.lifecycleState);
  if (kind === undefined) {
    return { kind: 'keep', reason: `not retained (${instance.lifecycleState})` };
  }
  if (kind === 'warm-pool') {
    return {
      kind: 'keep',
      reason: `${instance.lifecycleState}: TerminateInstanceInAutoScalingGroup cannot be called on warm pool instances; an operator decides`,
    };
  }
  if (!probe) return { kind: 'keep', reason: 'not asked (no private address); kept' };
  switch (probe.status) {
    case 'idle':
      return { kind: 'terminate', reason: 'idle' };
    case 'busy':
      return { kind: 'keep', reason: 'busy' };
    case 'unknown':
      return {
        kind: 'keep',
        reason: `unknown answer${probe.reason ? ` (${probe.reason})` : ''}: a retained instance is never terminated on an unknown answer`,
      };
  }
}

/**
 * What became of a retained instance whose TerminateInstanceInAutoScalingGroup call failed
 * or went unanswered — Auto Scaling may have carried it out all the same (an answer lost to a
 * connection reset, then the SDK's retry refused because the instance is Terminating by now).
 * `listed` is the instance's lifecycle state as DescribeAutoScalingGroups lists it after the
 * call: null when the group is listed without it or not at all (gone: it left the group),
 * undefined when the listing could not be had.
 *   still-retained  it is still Terminating:Retained: kept, and the next scan tries again;
 *   left            it has left Terminating:Retained: the termination happened — tell it now,
 *                   as no later scan will see it retained again;
 *   unknown         the state could not be read: tell that the outcome is unknown (a later
 *                   scan tries again only if it is still retained, and tells that too).
 */
export function afterFailedTerminate(
  listed: string | null | undefined,
): 'still-retained' | 'left' | 'unknown' {
  if (listed === undefined) return 'unknown';
  return listed === TERMINATING_RETAINED ? 'still-retained' : 'left';
}
