/**
 * CloudWatch metrics for each scanned group, as Embedded Metric Format log lines (Powertools
 * Metrics): one EMF document per group per scan, dimensioned by the group's name, so an alarm
 * can watch one group (e.g. ScanFailed ≥ 1, or FailedChanges > 0 for 3 minutes); then a second
 * document with ScanFailed and FailedChanges under the service dimension only, for the stack's
 * fleet-wide alarm. A group naming its work queue adds VisibleMessages, BacklogPerInstance,
 * BacklogReadFailed and BusyRatio to its document (docs/queues.md). A group with retained
 * members adds RetainedInstances, RetainedUnanswered and RetainedNoticeFailed; the last two
 * are counted fleet-wide too, for the stack's alarm on retained instances that never answer
 * (docs/retention.md).
 */
import { MetricResolution, MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { busyRatio } from './backlog.js';
import { retainedSignals } from './retained.js';
import type { GroupReport } from './scan.js';

export const GROUP_DIMENSION = 'AutoScalingGroupName';
/** The per-group metric a backlog scaling policy tracks (deploy/backlog.ts). */
export const BACKLOG_METRIC = 'BacklogPerInstance';
export const DEFAULT_METRICS_NAMESPACE = 'themis';

export interface ScanMetrics {
  record(report: GroupReport): void;
}

/** 1 when the scan did not do its job: not run, group missing, bad tags, or no change made. */
export function scanFailed(report: GroupReport): boolean {
  return report.outcome !== 'ok' && report.outcome !== 'partial';
}

export interface ScanMetricsOptions {
  /**
   * Scans are sub-minute (THEMIS_SCANS_PER_INVOCATION > 1): store the per-group metrics at
   * high resolution, so a scaling policy or alarm can read them in 10-second periods.
   */
  highResolution?: boolean;
}

export function createScanMetrics(metrics: Metrics, options: ScanMetricsOptions = {}): ScanMetrics {
  const resolution = options.highResolution ? MetricResolution.High : MetricResolution.Standard;
  return {
    record(report) {
      metrics.addDimension(GROUP_DIMENSION, report.asgName);
      const count = (name: string, value: number) =>
        metrics.addMetric(name, MetricUnit.Count, value, resolution);
      count('BusyInstances', Object.keys(report.busy).length);
      count('IdleInstances', Object.keys(report.idle).length);
      count('UnknownInstances', Object.keys(report.error).length);
      count('SkippedInstances', report.skipped.length);
      count('ProtectedChanges', report.protected.length);
      count('UnprotectedChanges', report.unprotected.length);
      count('FailedChanges', report.failed.length);
      count('ScanFailed', scanFailed(report) ? 1 : 0);
      metrics.addMetric('ScanDuration', MetricUnit.Milliseconds, report.durationMs, resolution);
      if (report.backlog)
        recordBacklog(report, count, (name, value) =>
          metrics.addMetric(name, MetricUnit.NoUnit, value, resolution),
        );
      const retained = report.retained ? retainedSignals(report.retained) : undefined;
      if (retained) {
        count('RetainedInstances', retained.instances);
        count('RetainedUnanswered', retained.unanswered);
        count('RetainedNoticeFailed', retained.noticeFailed);
      }
      // Publishing per group keeps each group's dimension on its own EMF document.
      metrics.publishStoredMetrics();
      // The same failure counts once more with only the service dimension, so one stack
      // alarm (ProtectScanFailedAlarm) watches every group, listed or discovered.
      metrics.addMetric('ScanFailed', MetricUnit.Count, scanFailed(report) ? 1 : 0);
      metrics.addMetric('FailedChanges', MetricUnit.Count, report.failed.length);
      // A retained instance that never answers is kept for ever (silence is not idle): the
      // stack alarm RetainedUnansweredAlarm watches this count.
      metrics.addMetric('RetainedUnanswered', MetricUnit.Count, retained?.unanswered ?? 0);
      metrics.addMetric('RetainedNoticeFailed', MetricUnit.Count, retained?.noticeFailed ?? 0);
      metrics.publishStoredMetrics();
    },
  };
}

/**
 * A queue-driven group's metrics (lib/protect/backlog.ts). A value that is not known — the
 * queue could not be read, the group could not be listed, no instance answered — is left
 * out rather than published as 0: a missing point makes a target-tracking policy wait, a
 * false 0 would make it scale in.
 */
function recordBacklog(
  report: GroupReport,
  count: (name: string, value: number) => void,
  ratio: (name: string, value: number) => void,
): void {
  const backlog = report.backlog!;
  if (backlog.visibleMessages !== null) count('VisibleMessages', backlog.visibleMessages);
  if (backlog.backlogPerInstance !== null) count(BACKLOG_METRIC, backlog.backlogPerInstance);
  count('BacklogReadFailed', backlog.error ? 1 : 0);
  const busy = busyRatio(report);
  if (busy !== undefined) ratio('BusyRatio', busy);
}

export const noMetrics: ScanMetrics = { record() {} };
