/**
 * One scan of one target group: list → address → probe → plan → apply → report.
 *
 * This is the entry point the handler, the CLI, the simulator, the sandbox and the
 * benchmarks share. It never throws for something that concerns only this group (a group
 * that does not exist, an AWS call that fails): that becomes the report's `outcome` and
 * `message`, so one bad group cannot stop the others. The one exception is the loopback
 * guard (AddressNotAllowedError), which must stop everything loudly.
 */
import type { Target } from '../config.js';
import type { BacklogReport } from './backlog.js';
import { AddressNotAllowedError, errorMessage } from '../errors.js';
import { observeByTasks } from '../ecs/protect-source.js';
import type {
  Clock,
  EcsClusterState,
  GroupDirectory,
  GroupInstance,
  GroupSnapshot,
  InstanceAddresses,
  InstanceProtection,
  Log,
  Notifications,
  ProbeStatus,
  Prober,
  Rechecks,
  RetainedInstances,
} from '../ports.js';
import { defaultProbeConcurrency, probeMany } from '../probe.js';
import { applyProtection, type FailedChange } from './apply.js';
import { planProtection, type Action } from './plan.js';
import { handleRetained, type RetainedInstanceReport } from './retained.js';
import { DEADLINE_SAFETY_MS } from './schedule.js';
import { Deadline, realTimers, type Timers } from '../time.js';

export interface ScanDeps {
  groups: GroupDirectory;
  addresses: InstanceAddresses;
  protection: InstanceProtection;
  prober: Prober;
  log: Log;
  /** ECS mode's busy signal (targets with ecsCluster). */
  ecs?: EcsClusterState;
  /** Terminating retained instances once idle (lib/protect/retained.ts); absent: report only. */
  retained?: RetainedInstances;
  /** Where the "released retained" notices go; absent: logged only. */
  notifications?: Notifications;
  /** The gate's recheck queue: a released notice SNS refused waits there for the gate's retry. */
  rechecks?: Rechecks;
  /** Probes in flight at once: an override; by default it follows the group (below). */
  concurrency?: number;
  /**
   * Sockets this scan may hold for probes (default: the invocation's whole budget,
   * PROBE_DESCRIPTOR_BUDGET); the default concurrency is min(group size, this).
   */
  probeDescriptors?: number;
  clock?: Clock;
  /** Timers for deadlines (default: real ones). */
  timers?: Timers;
  /**
   * The invocation's time left (context.getRemainingTimeInMillis); bounds the retained step,
   * which runs after the protection changes. Absent: unbounded (tests and tools).
   */
  remainingMs?: () => number;
}

/**
 * - ok: the scan ran and every planned change was made (or dryRun).
 * - partial: some planned changes failed, others were made.
 * - failed: the scan could not run (an AWS call failed), or every planned change failed.
 * - not-found: no such group in the region.
 * - config-error: the group's settings (tags) are invalid; nothing was probed or changed.
 */
export type GroupOutcome = 'ok' | 'partial' | 'failed' | 'not-found' | 'config-error';

/** One probed InService instance. */
export interface InstanceProbe {
  instanceId: string;
  address: string;
  availabilityZone?: string;
  lifecycleState: string;
  status: ProbeStatus;
  /** Why the answer is unknown. */
  reason?: string;
  latencyMs: number;
  protectedBefore: boolean;
  /** What the planner decided (in a dry run: what it would have done). */
  action: Action;
  decisionReason: string;
}

export interface SkippedInstance {
  instanceId: string;
  lifecycleState?: string;
  availabilityZone?: string;
  protectedFromScaleIn?: boolean;
  reason: string;
}

export interface GroupReport {
  asgName: string;
  region: string;
  dryRun: boolean;
  outcome: GroupOutcome;
  /** One line: why outcome is not 'ok'. */
  message?: string;
  /** For 'config-error': the field or tag holding the bad value. */
  field?: string;
  /** themis's result shape: instance id → private IP, by probe answer ('error' = unknown). */
  busy: Record<string, string>;
  idle: Record<string, string>;
  error: Record<string, string>;
  /** What the planner asked for (made unless dryRun; see protected/unprotected/failed). */
  planned: { protect: string[]; unprotect: string[] };
  /** Changes actually made. Always empty in a dry run. */
  protected: string[];
  unprotected: string[];
  failed: FailedChange[];
  skipped: SkippedInstance[];
  probes: InstanceProbe[];
  durationMs: number;
  /** For a group that names its work queue (queueUrl): the backlog read beside the scan. */
  backlog?: BacklogReport;
  /** Members kept in a Retained state, and what this scan did with each (lib/protect/retained.ts). */
  retained?: RetainedInstanceReport[];
}

function emptyReport(target: { asgName: string; region: string; dryRun?: boolean }): GroupReport {
  return {
    asgName: target.asgName,
    region: target.region,
    dryRun: target.dryRun ?? false,
    outcome: 'ok',
    busy: {},
    idle: {},
    error: {},
    planned: { protect: [], unprotect: [] },
    protected: [],
    unprotected: [],
    failed: [],
    skipped: [],
    probes: [],
    durationMs: 0,
  };
}

/** A report for a group that was not scanned (bad settings, lookup failure…). */
export function unscannedReport(
  target: { asgName: string; region: string; dryRun?: boolean },
  outcome: Exclude<GroupOutcome, 'ok' | 'partial'>,
  message: string,
  field?: string,
): GroupReport {
  return { ...emptyReport(target), outcome, message, ...(field ? { field } : {}) };
}

/** What the caller already read of the group before the scan, and how long that took. */
export interface PriorListing {
  /** The group as DescribeAutoScalingGroups returned it; absent when it was not in the answer. */
  snapshot?: GroupSnapshot;
  /** The listing call(s) made for this scan before it started (counted in durationMs). */
  tookMs: number;
}

/**
 * One scan of one group. `listed.snapshot` is the group as DescribeAutoScalingGroups
 * returned it a moment ago (target resolution, or the handler's batched listing for this
 * round); when it is given the group is not described again, so a scan costs the lower bound
 * of calls. `durationMs` covers the whole scan, AWS calls included: that listing's time is
 * added to the time measured here.
 */
export async function scanTarget(
  target: Target,
  deps: ScanDeps,
  listed?: PriorListing,
): Promise<GroupReport> {
  const clock = deps.clock ?? Date.now;
  const started = clock();
  const group = target.asgName;
  const listing = listed?.snapshot;
  const finish = (report: GroupReport): GroupReport => ({
    ...report,
    durationMs: clock() - started + (listed?.tookMs ?? 0),
  });
  const fail = (message: string): GroupReport => {
    deps.log.error('scan failed', { group, region: target.region, reason: message });
    return finish(unscannedReport(target, 'failed', message));
  };

  let members: GroupInstance[];
  try {
    const found =
      listing?.name === group
        ? listing
        : (await deps.groups.describeGroups([group])).find((g) => g.name === group);
    if (!found) {
      const message = `Auto Scaling group ${JSON.stringify(group)} not found in ${target.region}`;
      deps.log.error('group not found', { group, region: target.region, reason: message });
      return finish(unscannedReport(target, 'not-found', message));
    }
    members = found.instances;
  } catch (err) {
    return fail(`cannot describe the group: ${errorMessage(err)}`);
  }

  const report = emptyReport(target);

  const skip = (instance: GroupInstance, reason: string) => {
    report.skipped.push({
      instanceId: instance.instanceId,
      lifecycleState: instance.lifecycleState,
      ...(instance.availabilityZone ? { availabilityZone: instance.availabilityZone } : {}),
      protectedFromScaleIn: instance.protectedFromScaleIn,
      reason,
    });
    deps.log.info('decision', {
      instanceId: instance.instanceId,
      group,
      decision: 'skip',
      reason,
      lifecycleState: instance.lifecycleState,
    });
  };

  // Only InService instances are probed or changed: Pending ones are not working yet, and
  // Auto Scaling rejects protection changes for instances on their way out.
  const inService = members.filter((m) => {
    if (m.lifecycleState === 'InService') return true;
    skip(m, `not InService (${m.lifecycleState})`);
    return false;
  });

  let addresses: Map<string, string>;
  try {
    addresses = inService.length
      ? await deps.addresses.privateAddresses(inService.map((m) => m.instanceId))
      : new Map();
  } catch (err) {
    return fail(`cannot read instance addresses: ${errorMessage(err)}`);
  }

  const reachable: Array<GroupInstance & { address: string }> = [];
  for (const m of inService) {
    const address = addresses.get(m.instanceId);
    if (address) reachable.push({ ...m, address });
    else skip(m, 'no private IP address');
  }

  let probed;
  try {
    // ECS mode: the busy signal is the instances' tasks (lib/ecs), not an HTTP probe.
    const concurrency =
      deps.concurrency ?? defaultProbeConcurrency(reachable.length, deps.probeDescriptors);
    probed = target.ecsCluster
      ? await observeByTasks(target.ecsCluster, reachable, deps.ecs, clock, deps.timers)
      : await probeMany(deps.prober, reachable, target, concurrency);
  } catch (err) {
    if (err instanceof AddressNotAllowedError) throw err;
    return fail(`probing failed: ${errorMessage(err)}`);
  }

  const plan = planProtection(
    probed.map((p) => ({
      instanceId: p.instanceId,
      status: p.result.status,
      protectedBefore: p.protectedFromScaleIn,
    })),
    target,
  );

  probed.forEach((p, i) => {
    const decision = plan.decisions[i]!;
    const byStatus = { busy: report.busy, idle: report.idle, unknown: report.error };
    byStatus[p.result.status][p.instanceId] = p.address;
    report.probes.push({
      instanceId: p.instanceId,
      address: p.address,
      ...(p.availabilityZone ? { availabilityZone: p.availabilityZone } : {}),
      lifecycleState: p.lifecycleState,
      status: p.result.status,
      ...(p.result.reason ? { reason: p.result.reason } : {}),
      latencyMs: p.result.latencyMs,
      protectedBefore: p.protectedFromScaleIn,
      action: decision.action,
      decisionReason: decision.reason,
    });
    deps.log.info('decision', {
      instanceId: p.instanceId,
      group,
      decision: decision.action,
      reason: decision.reason,
      status: p.result.status,
      ...(p.result.reason ? { probeReason: p.result.reason } : {}),
      address: p.address,
      latencyMs: p.result.latencyMs,
      protectedBefore: p.protectedFromScaleIn,
      dryRun: target.dryRun,
    });
  });
  report.planned = { protect: plan.protect, unprotect: plan.unprotect };

  if (!target.dryRun) await applyChanges();

  // Retained members, after the protection changes so they can never cost the scan those:
  // terminated once idle (none: no call is made), inside the invocation's time left.
  const timers = deps.timers ?? realTimers;
  const left = deps.remainingMs?.() ?? Number.POSITIVE_INFINITY;
  const retained = await handleRetained(target, members, {
    ...deps,
    clock,
    deadline: Deadline.after(left, timers).less(DEADLINE_SAFETY_MS),
  });
  if (retained.length) report.retained = retained;
  return finish(report);

  async function applyChanges(): Promise<void> {
    const applied = await applyProtection(group, plan, deps.protection, deps.log);
    report.protected = applied.protected;
    report.unprotected = applied.unprotected;
    report.failed = applied.failed;
    if (applied.failed.length > 0) {
      const made = applied.protected.length + applied.unprotected.length;
      report.outcome = made === 0 ? 'failed' : 'partial';
      report.message =
        made === 0
          ? `none of the ${applied.failed.length} protection changes could be made`
          : `${applied.failed.length} of ${applied.failed.length + made} protection changes failed`;
      deps.log.error('protection changes failed', {
        group,
        region: target.region,
        failed: applied.failed.length,
        made,
        reason: report.message,
      });
    }
  }
}
