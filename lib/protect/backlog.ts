/**
 * Backlog per instance for queue-driven worker groups (AWS's "scaling based on Amazon SQS"):
 * a group that names its work queue (tag themis:queue-url, `queueUrl` in a target or event,
 * or THEMIS_QUEUE_URL) has the queue's visible messages read beside each protect scan, and
 * the scan's report carries
 *
 *   backlogPerInstance = visible messages ÷ InService instances
 *                        (with none InService: the backlog itself, so a group scaled to zero
 *                        still shows work waiting and a target-tracking policy scales out)
 *
 * which lib/protect/metrics.ts publishes with BusyInstances, IdleInstances and BusyRatio.
 * A queue that cannot be read is logged and counted (BacklogReadFailed); the scan goes on.
 */
import { errorMessage } from '../errors.js';
import type { Log, QueueBacklog } from '../ports.js';
import { Deadline, type Timers } from '../time.js';
import type { GroupReport } from './scan.js';

export interface BacklogReport {
  queueUrl: string;
  /** ApproximateNumberOfMessages; null when the queue could not be read. */
  visibleMessages: number | null;
  /** InService members counted by the scan; null when the scan could not list the group. */
  inService: number | null;
  /** null when either of the above is unknown. */
  backlogPerInstance: number | null;
  /** Why the queue could not be read. */
  error?: string;
}

export type BacklogReading = { visibleMessages: number } | { error: string };

/**
 * Read the queue within `budgetMs` (the read runs beside the scan's probes, so it gets their
 * budget, the target's probe timeout): settles by then whatever SQS does, and never throws.
 */
export async function readBacklog(
  queueUrl: string,
  port: QueueBacklog | undefined,
  budgetMs: number,
  timers?: Timers,
): Promise<BacklogReading> {
  if (!port) return { error: 'no queue reader in this region' };
  try {
    const visibleMessages = await Deadline.after(budgetMs, timers).run(
      `GetQueueAttributes ${queueUrl}`,
      (signal) => port.visibleMessages(queueUrl, { signal }),
    );
    return { visibleMessages };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

/** InService members as the scan saw them (probed, or skipped for having no address). */
export function inServiceCount(report: GroupReport): number | undefined {
  if (report.outcome !== 'ok' && report.outcome !== 'partial') return undefined;
  return (
    report.probes.length + report.skipped.filter((s) => s.lifecycleState === 'InService').length
  );
}

export function backlogReport(
  queueUrl: string,
  reading: BacklogReading,
  report: GroupReport,
): BacklogReport {
  const inService = inServiceCount(report) ?? null;
  const visibleMessages = 'visibleMessages' in reading ? reading.visibleMessages : null;
  return {
    queueUrl,
    visibleMessages,
    inService,
    backlogPerInstance:
      visibleMessages === null || inService === null
        ? null
        : inService === 0
          ? visibleMessages
          : visibleMessages / inService,
    ...('error' in reading ? { error: reading.error } : {}),
  };
}

/** Busy ÷ (busy + idle): the share of answering instances at work; undefined with no answers. */
export function busyRatio(report: GroupReport): number | undefined {
  const busy = Object.keys(report.busy).length;
  const answered = busy + Object.keys(report.idle).length;
  return answered === 0 ? undefined : busy / answered;
}

/**
 * The seam the protect handler uses: start reading the queue (when the target names one)
 * while the scan runs, then put the backlog on the scan's report.
 */
export function startBacklog(
  target: { asgName: string; region: string; queueUrl?: string; timeoutMs: number },
  port: QueueBacklog | undefined,
  log: Log,
  timers?: Timers,
): (report: GroupReport) => Promise<GroupReport> {
  const { queueUrl } = target;
  if (!queueUrl) return async (report) => report;
  const reading = readBacklog(queueUrl, port, target.timeoutMs, timers);
  return async (report) => {
    const backlog = backlogReport(queueUrl, await reading, report);
    if (backlog.error) {
      log.warn('queue backlog could not be read; the scan goes on', {
        group: target.asgName,
        region: target.region,
        queueUrl,
        reason: backlog.error,
      });
    }
    return { ...report, backlog };
  };
}
