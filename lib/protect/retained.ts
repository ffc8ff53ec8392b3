/**
 * The retained-instance step of a protect scan. A group whose instance lifecycle policy
 * retains abandoned instances keeps them running in Terminating:Retained (THEMIS_ON_DEADLINE
 * = RETAIN does this for busy ones); nothing else ever ends them. So on every scan each
 * retained member is asked whether it is busy, and one that answers IDLE is terminated with
 * TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity=false), followed by a
 * "released retained" notice. Busy or unknown: kept — unknown never terminates. Warm-pool
 * retained instances (Warmed:*:Retained) are not seen here at all: DescribeWarmPool lists the
 * warm pool's instances and protect does not call it; it reads the group's members
 * (DescribeAutoScalingGroups). Were one among them, it would be reported and kept, never
 * terminated (the API cannot terminate warm pool instances). `themis holds` shows them.
 *
 * The decision is lib/retain/decide.ts; this module only carries it out. A group with no
 * retained member costs no call at all. Nothing here throws for the group: a failure is in
 * the report and the log, and the next scan tries again.
 */
import type { Target } from '../config.js';
import { observeByTasks } from '../ecs/protect-source.js';
import { AddressNotAllowedError, errorMessage } from '../errors.js';
import type {
  Clock,
  EcsClusterState,
  GroupDirectory,
  GroupInstance,
  InstanceAddresses,
  Log,
  Notice,
  Notifications,
  ProbeResult,
  Prober,
  Rechecks,
  RetainedInstances,
} from '../ports.js';
import { encodePendingNotice, noticeRetryDelaySeconds } from '../gate/notice-retry.js';
import { probeMany } from '../probe.js';
import { afterFailedTerminate, decideRetained, retainedKind } from '../retain/decide.js';
import { TERMINATING_RETAINED } from '../aws/facts.js';
import { retainedReleasedNotice } from '../retain/notice.js';
import { Deadline, DeadlineExceededError, realTimers, type Timers } from '../time.js';

/**
 * One TerminateInstanceInAutoScalingGroup or Publish, SDK retries included: a call that takes
 * longer is abandoned (the next scan, a minute away, tries again) rather than stalling the scan.
 */
export const RETAINED_CALL_MS = 10_000;

export interface RetainedDeps {
  addresses: InstanceAddresses;
  prober: Prober;
  /** Absent: retained instances are probed and reported, never terminated. */
  retained?: RetainedInstances;
  /** Absent: the release is logged only. */
  notifications?: Notifications;
  /**
   * The group's members, read back after a terminate call that failed or went unanswered
   * (protect's own GroupDirectory). Absent: such an outcome is told as unknown.
   */
  groups?: GroupDirectory;
  /**
   * The gate's recheck queue (THEMIS_RECHECK_QUEUE_URL). A released notice that SNS refused
   * goes there as a pending notice, and the gate publishes it, retrying for
   * NOTICE_RETRY_LIMIT_SECONDS (lib/gate/notice-retry.ts) — as durable as the gate's own
   * outcome notices. Absent: a refused notice is logged and counted (RetainedNoticeFailed).
   */
  rechecks?: Rechecks;
  ecs?: EcsClusterState;
  log: Log;
  clock: Clock;
  timers?: Timers;
  /** The scan's time left for this step (default: unbounded); a member that does not fit waits. */
  deadline?: Deadline;
}

/**
 * terminated        TerminateInstanceInAutoScalingGroup succeeded;
 * would-terminate   dry run (or no Auto Scaling port): it would have been;
 * kept              busy, unknown, not asked, or in the warm pool;
 * failed            the call failed and the instance is still Terminating:Retained: kept,
 *                   tried again on the next scan;
 * unknown           the call failed or went unanswered and the instance's state could not
 *                   be read afterwards: it may have been terminated (the notice says so).
 * A call that failed but was carried out (the instance has left Terminating:Retained) is
 * 'terminated'.
 */
export type RetainedAction = 'terminated' | 'would-terminate' | 'kept' | 'failed' | 'unknown';

export interface RetainedInstanceReport {
  instanceId: string;
  lifecycleState: string;
  address?: string;
  status?: ProbeResult['status'];
  probeReason?: string;
  action: RetainedAction;
  reason: string;
  /**
   * The "released retained" notice (a termination only): published; queued for the gate to
   * publish (SNS refused it); or failed (SNS refused it and it could not be queued — logged
   * at error level and counted in RetainedNoticeFailed).
   */
  notice?: 'published' | 'queued' | 'failed';
}

/** Retained members of a group as DescribeAutoScalingGroups listed them. */
export function retainedMembers(members: readonly GroupInstance[]): GroupInstance[] {
  return members.filter((m) => retainedKind(m.lifecycleState) !== undefined);
}

export async function handleRetained(
  target: Target,
  members: readonly GroupInstance[],
  deps: RetainedDeps,
): Promise<RetainedInstanceReport[]> {
  const retained = retainedMembers(members);
  if (retained.length === 0) return [];
  const group = target.asgName;
  const timers = deps.timers ?? realTimers;
  const deadline = deps.deadline ?? Deadline.never(timers);
  // Only Terminating:Retained can be terminated; only those are worth a probe.
  const askable = retained.filter((m) => retainedKind(m.lifecycleState) === 'group');

  // Every call of the step runs inside its deadline, the first ones too: an address lookup or
  // a probe batch that does not answer in time leaves the instances not asked — kept.
  let addresses = new Map<string, string>();
  let notAsked: string | undefined;
  try {
    if (askable.length) {
      const ids = askable.map((m) => m.instanceId);
      addresses = await deadline.run('DescribeInstances (retained)', (signal) =>
        deps.addresses.privateAddresses(ids, { signal }),
      );
    }
  } catch (err) {
    notAsked = `not asked: addresses unreadable (${errorMessage(err)}); kept, asked again on the next scan`;
    deps.log.error('retained instances not probed: addresses unreadable', {
      group,
      reason: errorMessage(err),
    });
  }
  const reachable = askable.flatMap((m) => {
    const address = addresses.get(m.instanceId);
    return address ? [{ ...m, address }] : [];
  });
  const first = await ask(target, reachable, deps, timers, deadline);
  const answers = first.answers;
  notAsked ??= first.notAsked;

  const reports: RetainedInstanceReport[] = [];
  for (const member of retained) {
    let probe = answers.get(member.instanceId);
    let decision = decideRetained(member, probe);
    const reachableMember = reachable.find((m) => m.instanceId === member.instanceId);
    if (!probe && notAsked && retainedKind(member.lifecycleState) === 'group') {
      decision = { kind: 'keep', reason: notAsked };
    }
    if (decision.kind === 'terminate' && !fits(target, deadline)) {
      decision = { kind: 'keep', reason: OUT_OF_TIME };
    } else if (decision.kind === 'terminate' && reachableMember) {
      // Terminating:Retained runs no lifecycle hook: the answer acted on must be fresh, not one
      // taken before the calls for the members handled earlier (up to 2 × RETAINED_CALL_MS each).
      const again = await ask(target, [reachableMember], deps, timers, deadline);
      probe = again.answers.get(member.instanceId);
      decision = decideRetained(member, probe);
      if (!probe && again.notAsked) decision = { kind: 'keep', reason: again.notAsked };
    }
    const address = addresses.get(member.instanceId);
    const report: RetainedInstanceReport = {
      instanceId: member.instanceId,
      lifecycleState: member.lifecycleState,
      ...(address ? { address } : {}),
      ...(probe ? { status: probe.status } : {}),
      ...(probe?.reason ? { probeReason: probe.reason } : {}),
      action: 'kept',
      reason: decision.reason,
    };
    reports.push(report);
    if (decision.kind === 'terminate') await carryOut(target, member, report, deps, deadline);
    deps.log.info('retained instance', {
      instanceId: member.instanceId,
      group,
      lifecycleState: member.lifecycleState,
      decision: report.action,
      reason: report.reason,
      ...(probe ? { status: probe.status } : {}),
      dryRun: target.dryRun,
    });
  }
  return reports;
}

const OUT_OF_TIME =
  "not asked again: the invocation's time left cannot hold a probe and its calls; the next scan asks";

/** Room for one fresh probe and a terminate; the notice gets what is left (at most RETAINED_CALL_MS). */
function fits(target: Target, deadline: Deadline): boolean {
  return deadline.remainingMs() >= target.timeoutMs + RETAINED_CALL_MS;
}

/**
 * Ask each instance now (ECS: by its tasks), within the step's deadline; an instance without
 * an answer is left out. `notAsked` says why none was had when the asking itself failed or
 * ran out of time (the instances are then kept).
 */
async function ask(
  target: Target,
  reachable: Array<GroupInstance & { address: string }>,
  deps: RetainedDeps,
  timers: Timers,
  deadline: Deadline,
): Promise<{ answers: Map<string, ProbeResult>; notAsked?: string }> {
  if (reachable.length === 0) return { answers: new Map() };
  try {
    const probed = await deadline.run('probe (retained)', () =>
      target.ecsCluster
        ? observeByTasks(target.ecsCluster, reachable, deps.ecs, deps.clock, timers)
        : probeMany(deps.prober, reachable, target),
    );
    return { answers: new Map(probed.map((p) => [p.instanceId, p.result])) };
  } catch (err) {
    if (err instanceof AddressNotAllowedError) throw err;
    deps.log.error('retained instances not probed', {
      group: target.asgName,
      reason: errorMessage(err),
    });
    return {
      answers: new Map(),
      notAsked:
        err instanceof DeadlineExceededError
          ? `not asked: the invocation's time ran out before an answer (${err.message}); kept, asked again on the next scan`
          : `not asked: ${errorMessage(err)}; kept, asked again on the next scan`,
    };
  }
}

/**
 * Terminate (unless dry run), then tell operators. A call that failed or went unanswered may
 * have been carried out all the same, and then no later scan sees the instance retained again:
 * so its state is read back (DescribeAutoScalingGroups, inside the step's deadline). Still
 * Terminating:Retained: kept, tried again on the next scan. Left it: terminated, and told.
 * Unreadable: the notice says the outcome is unknown — never silence.
 */
async function carryOut(
  target: Target,
  member: GroupInstance,
  report: RetainedInstanceReport,
  deps: RetainedDeps,
  deadline: Deadline,
): Promise<void> {
  const ports = deps.retained;
  let outcome: 'released' | 'unknown' = 'released';
  if (target.dryRun || !ports) {
    report.action = 'would-terminate';
  } else {
    try {
      await deadline
        .within(RETAINED_CALL_MS)
        .run('TerminateInstanceInAutoScalingGroup', (signal) =>
          ports.terminateRetained(member.instanceId, { signal }),
        );
      report.action = 'terminated';
    } catch (err) {
      const failure = `TerminateInstanceInAutoScalingGroup failed: ${errorMessage(err)}`;
      const listed = await stateAfterCall(target, member, deps, deadline);
      const after = afterFailedTerminate(listed.state);
      if (after === 'still-retained') {
        report.action = 'failed';
        report.reason = `idle, but ${failure}; still ${TERMINATING_RETAINED}: tried again on the next scan`;
        deps.log.error('retained instance not terminated', {
          instanceId: member.instanceId,
          group: target.asgName,
          reason: report.reason,
        });
        return;
      }
      if (after === 'left') {
        report.action = 'terminated';
        report.reason = `idle; ${failure}, but the group ${
          listed.state === null ? 'no longer lists it' : `lists it as ${listed.state}`
        } now: Auto Scaling carried out the termination`;
        deps.log.warn('retained instance terminated, though the call failed', {
          instanceId: member.instanceId,
          group: target.asgName,
          reason: report.reason,
        });
      } else {
        outcome = 'unknown';
        report.action = 'unknown';
        report.reason = `idle, but ${failure}, and its state could not be read afterwards (${listed.why}): it may have been terminated; if it is still ${TERMINATING_RETAINED}, the next scan tries again`;
        deps.log.error('retained instance: termination outcome unknown', {
          instanceId: member.instanceId,
          group: target.asgName,
          reason: report.reason,
        });
      }
    }
  }
  // Only a real (or possible) termination is told: a dry run would repeat it on every scan.
  const notifications = deps.notifications;
  if (report.action === 'would-terminate' || !notifications) return;
  const notice = retainedReleasedNotice({
    groupName: target.asgName,
    instanceId: member.instanceId,
    lifecycleState: member.lifecycleState,
    reason: report.reason,
    time: new Date(deps.clock()).toISOString(),
    dryRun: false,
    ...(outcome === 'unknown' ? { outcome } : {}),
  });
  report.notice = await tellReleased(notice, notifications, member, target, deps, deadline);
}

/**
 * The member's lifecycle state as the group lists it now: null when it is not listed (or the
 * group is gone), undefined (with why) when it cannot be read. Gets at most half of the step's
 * time left, so the notice keeps the other half.
 */
async function stateAfterCall(
  target: Target,
  member: GroupInstance,
  deps: RetainedDeps,
  deadline: Deadline,
): Promise<{ state: string | null | undefined; why?: string }> {
  const groups = deps.groups;
  if (!groups) return { state: undefined, why: 'no group directory to read it from' };
  try {
    const listed = await deadline
      .within(Math.min(RETAINED_CALL_MS, deadline.remainingMs() / 2))
      .run('DescribeAutoScalingGroups (retained)', (signal) =>
        groups.describeGroups([target.asgName], { signal }),
      );
    const found = listed
      .find((g) => g.name === target.asgName)
      ?.instances.find((i) => i.instanceId === member.instanceId);
    return { state: found ? found.lifecycleState : null };
  } catch (err) {
    return { state: undefined, why: `DescribeAutoScalingGroups failed: ${errorMessage(err)}` };
  }
}

/**
 * Publish the released notice; when SNS refuses it, hand it to the gate's recheck queue as a
 * pending notice (the gate publishes it from there, as it does its own outcome notices). The
 * instance is terminated by now and will not be seen again as Retained, so no later scan
 * would tell it: this is the notice's only chance in protect. Publish gets at most half of
 * the time left, so the queue always gets the other half.
 */
async function tellReleased(
  notice: Notice,
  notifications: Notifications,
  member: GroupInstance,
  target: Target,
  deps: RetainedDeps,
  deadline: Deadline,
): Promise<'published' | 'queued' | 'failed'> {
  const fields = {
    instanceId: member.instanceId,
    group: target.asgName,
    event: notice.attributes.event,
    outcomeId: notice.attributes['outcome-id'],
  };
  let publishError: unknown;
  try {
    await deadline
      .within(Math.min(RETAINED_CALL_MS, deadline.remainingMs() / 2))
      .run('Publish', (signal) => notifications.publish(notice, { signal }));
    return 'published';
  } catch (err) {
    publishError = err;
  }
  const rechecks = deps.rechecks;
  if (rechecks) {
    const pending = { notice, attempts: 1, firstFailedMs: deps.clock() };
    try {
      await deadline
        .within(RETAINED_CALL_MS)
        .run('SendMessage', (signal) =>
          rechecks.schedule(encodePendingNotice(pending), noticeRetryDelaySeconds(1), { signal }),
        );
      deps.log.warn('notification not sent; the gate retries it from the recheck queue', {
        ...fields,
        error: errorMessage(publishError),
      });
      return 'queued';
    } catch (err) {
      deps.log.error('notification not sent, nor queued for a retry', {
        ...fields,
        error: errorMessage(publishError),
        queueError: errorMessage(err),
      });
      return 'failed';
    }
  }
  // The termination stands; Auto Scaling's activity history records it too.
  deps.log.error('notification not sent', { ...fields, error: errorMessage(publishError) });
  return 'failed';
}

/**
 * What a scan's retained step tells an alarm (lib/protect/metrics.ts):
 *   instances     every retained member (the warm pool's too);
 *   unanswered    Terminating:Retained members with no BUSY or IDLE answer this scan (unknown,
 *                 or not asked: no address, addresses unreadable, out of time). Such an
 *                 instance is kept — silence is not idle — so without this count it would be
 *                 kept for ever unseen;
 *   noticeFailed  released instances whose notice neither SNS nor the recheck queue took.
 */
export function retainedSignals(reports: readonly RetainedInstanceReport[]): {
  instances: number;
  unanswered: number;
  noticeFailed: number;
} {
  return {
    instances: reports.length,
    unanswered: reports.filter(
      (r) =>
        retainedKind(r.lifecycleState) === 'group' && r.status !== 'busy' && r.status !== 'idle',
    ).length,
    noticeFailed: reports.filter((r) => r.notice === 'failed').length,
  };
}
