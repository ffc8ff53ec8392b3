/**
 * The protect function's handler, built from its dependencies (functions/protect.ts builds
 * them once per cold start; tests build them around moto or fakes).
 *
 * One invocation: read the event (nothing is touched if any target in it is invalid) →
 * resolve targets (configuration, tags, discovery) → run THEMIS_SCANS_PER_INVOCATION scans
 * spread over the minute → return every scan's per-group reports.
 *
 * Failure policy. A failing group never fails the invocation: it is reported (outcome,
 * message), logged at error level and counted in the ScanFailed / FailedChanges metrics,
 * which is what alarms should watch. Throwing would make Lambda retry the whole
 * asynchronous invocation (twice), repeating the scans and API calls of the groups that
 * worked, while the next scheduled run a minute later is the retry that matters. The
 * invocation does fail (throws) when nothing could be attempted: an invalid event, or tag
 * discovery failing with nothing else to scan.
 */
import { forInvocation } from '../log.js';
import pLimit from 'p-limit';
import { ConfigError, errorMessage, InvalidEventError } from '../errors.js';
import type {
  Clock,
  GroupSnapshot,
  InvocationContext,
  Log,
  Notifications,
  Prober,
  Rechecks,
  RegionalPorts,
} from '../ports.js';
import { probeDescriptorShare } from '../probe.js';
import type { Timers } from '../time.js';
import { startBacklog } from './backlog.js';
import { AddressCache, type AddressCacheOptions } from './addresses.js';
import type { ProtectConfig } from './config.js';
import { parseProtectEvent } from './event.js';
import { noMetrics, type ScanMetrics } from './metrics.js';
import { scanTarget, type GroupReport, type PriorListing } from './scan.js';
import { DEADLINE_SAFETY_MS, realSleep, runScans, type Sleep } from './schedule.js';
import { resolveTargets, type ResolvedTarget } from './targets.js';

export type { RegionalPorts };

export interface ProtectHandlerDeps {
  config: ProtectConfig;
  /** Ports for a region. Called lazily, at most once per region (cached here). */
  portsFor: (region: string) => RegionalPorts;
  prober: Prober;
  log: Log;
  metrics?: ScanMetrics;
  clock?: Clock;
  sleep?: Sleep;
  /** The per-region cache of instance addresses kept by a warm container. */
  addressCache?: AddressCacheOptions;
  /** Timers for deadlines (default: real ones). */
  timers?: Timers;
  /** The outcome topic, for "released retained" notices (lib/protect/retained.ts). */
  notifications?: Notifications;
  /** The gate's recheck queue, where a released notice SNS refused waits for the gate's retry. */
  rechecks?: Rechecks;
}

export type { InvocationContext };

export interface ScanRound {
  startedAt: string;
  groups: GroupReport[];
}

export interface ProtectResult {
  /** One entry per scan run in this invocation, in order. */
  scans: ScanRound[];
}

/**
 * Four groups at a time, so that several groups' probe timeouts overlap. The groups scanned
 * at once share the probe sockets (PROBE_DESCRIPTOR_BUDGET, lib/probe.ts) equally.
 */
export const DEFAULT_GROUP_CONCURRENCY = 4;

/** Memoise a per-region factory: clients for a region are built once, on first use. */
export function perRegion<T>(build: (region: string) => T): (region: string) => T {
  const cache = new Map<string, T>();
  return (region) => {
    let value = cache.get(region);
    if (value === undefined) {
      value = build(region);
      cache.set(region, value);
    }
    return value;
  };
}

export function createProtectHandler(
  deps: ProtectHandlerDeps,
): (event: unknown, context?: InvocationContext) => Promise<ProtectResult> {
  const { config } = deps;
  const portsFor = perRegion(deps.portsFor);
  // Lives as long as the container: a warm one describes only instances it has not seen.
  const addressesFor = perRegion(
    (region) => new AddressCache(portsFor(region).addresses, deps.addressCache),
  );
  const clock = deps.clock ?? Date.now;
  const metrics = deps.metrics ?? noMetrics;

  /** `probeDescriptors`: this group's share of the invocation's probe sockets. */
  const scanOne = async (
    resolved: ResolvedTarget,
    listingMs: number,
    probeDescriptors: number,
    log: Log,
    remainingMs: () => number,
  ): Promise<GroupReport> => {
    if (resolved.report) return resolved.report;
    const { target, listing } = resolved;
    const addresses = addressesFor(target.region);
    const listed: PriorListing = { ...(listing ? { snapshot: listing } : {}), tookMs: listingMs };
    // Beside the scan: the group's work-queue backlog, when it names a queue.
    const addBacklog = startBacklog(target, portsFor(target.region).backlog, log, deps.timers);
    const report = await scanTarget(
      target,
      {
        ...portsFor(target.region),
        addresses: addresses.forGroup(target.asgName),
        prober: deps.prober,
        log,
        clock,
        ...(deps.timers ? { timers: deps.timers } : {}),
        concurrency: config.probeConcurrency,
        probeDescriptors,
        remainingMs,
        ...(deps.notifications ? { notifications: deps.notifications } : {}),
        ...(deps.rechecks ? { rechecks: deps.rechecks } : {}),
      },
      listed,
    );
    const members = knownMembers(report);
    if (members) addresses.retainGroup(target.asgName, members);
    return addBacklog(report);
  };

  /**
   * Fresh listings for a later scan of the same invocation: one batched
   * DescribeAutoScalingGroups per region instead of one per group. A group missing from
   * the answer, or a failed call, leaves that group to describe itself (and report
   * not-found or the error) in scanTarget.
   */
  const relist = async (targets: ResolvedTarget[], log: Log): Promise<ResolvedTarget[]> => {
    const byRegion = new Map<string, string[]>();
    for (const t of targets) {
      if (t.target)
        byRegion.set(t.target.region, [...(byRegion.get(t.target.region) ?? []), t.target.asgName]);
    }
    const fresh = new Map<string, GroupSnapshot>();
    await Promise.all(
      [...byRegion].map(async ([region, names]) => {
        try {
          for (const g of await portsFor(region).groups.describeGroups(names))
            fresh.set(`${region}/${g.name}`, g);
        } catch (err) {
          log.warn('batched group listing failed; each group is described on its own', {
            region,
            reason: errorMessage(err),
          });
        }
      }),
    );
    return targets.map((t) => {
      if (!t.target) return t;
      const listing = fresh.get(`${t.target.region}/${t.target.asgName}`);
      return listing ? { target: t.target, listing } : { target: t.target };
    });
  };

  /** `listingMs`: how long reading the groups for this round took (in each ScanDuration). */
  const scanAll = async (
    targets: ResolvedTarget[],
    listingMs: number,
    log: Log,
    remainingMs: () => number,
  ): Promise<ScanRound> => {
    const startedAt = new Date(clock()).toISOString();
    const groupConcurrency = DEFAULT_GROUP_CONCURRENCY;
    const limit = pLimit(groupConcurrency);
    // Groups scanned at once share the probe sockets; a lone group has them all.
    const scanned = targets.filter((t) => !t.report).length;
    const share = probeDescriptorShare(Math.min(groupConcurrency, scanned));
    const groups = await Promise.all(
      targets.map((t) => limit(() => scanOne(t, listingMs, share, log, remainingMs))),
    );
    for (const report of groups) {
      metrics.record(report);
      const line = {
        group: report.asgName,
        region: report.region,
        outcome: report.outcome,
        dryRun: report.dryRun,
        busy: Object.keys(report.busy).length,
        idle: Object.keys(report.idle).length,
        unknown: Object.keys(report.error).length,
        skipped: report.skipped.length,
        protected: report.protected.length,
        unprotected: report.unprotected.length,
        failed: report.failed.length,
        durationMs: report.durationMs,
        ...(report.message ? { reason: report.message } : {}),
      };
      if (report.outcome === 'ok') log.info('group scanned', line);
      else log.error('group scan did not complete', line);
    }
    return { startedAt, groups };
  };

  return async (event, context) => {
    // Every line of this invocation carries its request id.
    const log = forInvocation(deps.log, context);
    let request;
    try {
      request = parseProtectEvent(event, config.region);
    } catch (err) {
      if (err instanceof ConfigError || err instanceof InvalidEventError) {
        log.error('invalid event: nothing was changed', {
          reason: err.message,
          ...(err.field ? { field: err.field } : {}),
        });
      }
      throw err;
    }

    const resolving = clock();
    const targets = await resolveTargets(request, config, (r) => portsFor(r).groups, log);
    const resolvedMs = clock() - resolving;
    if (targets.length === 0) {
      log.warn('nothing to scan: no THEMIS_TARGETS and no group tagged themis:enabled=true', {
        region: config.region,
        tagDiscovery: config.tagDiscovery,
      });
      return { scans: [] };
    }

    const longestTimeoutMs = Math.max(0, ...targets.map((t) => t.target?.timeoutMs ?? 0));
    let round = 0;
    const remainingMs = () => context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
    const scans = await runScans({
      count: config.scansPerInvocation,
      remainingMs,
      marginMs: longestTimeoutMs + DEADLINE_SAFETY_MS,
      clock,
      sleep: deps.sleep ?? realSleep,
      log,
      // The first scan uses the listings target resolution has just read; later ones re-list.
      scan: async () => {
        if (round++ === 0) return scanAll(targets, resolvedMs, log, remainingMs);
        const listing = clock();
        const fresh = await relist(targets, log);
        return scanAll(fresh, clock() - listing, log, remainingMs);
      },
    });
    return { scans };
  };
}

/**
 * The group's members as its scan saw them, when the scan got as far as listing it: every
 * instance probed or skipped (a group that no longer exists has none). undefined when the
 * scan failed before it knew them — an unknown membership must not empty the cache.
 */
function knownMembers(report: GroupReport): string[] | undefined {
  const ids = [...report.probes, ...report.skipped].map((m) => m.instanceId);
  // A failed scan with no member in it stopped at the listing or the addresses.
  return report.outcome === 'failed' && ids.length === 0 ? undefined : ids;
}
