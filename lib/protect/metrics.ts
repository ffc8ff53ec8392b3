/**
 * CloudWatch metrics for each scanned group, as Embedded Metric Format log lines (Powertools
 * Metrics): one EMF document per group per scan, dimensioned by the group's name, so an alarm
 * can watch one group (e.g. ScanFailed ≥ 1, or FailedChanges > 0 for 3 minutes); then a second
 * document with ScanFailed and FailedChanges under the service dimension only, for the stack's
 * fleet-wide alarm.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { GroupReport } from './scan.js';

export const GROUP_DIMENSION = 'AutoScalingGroupName';
export const DEFAULT_METRICS_NAMESPACE = 'themis';

export interface ScanMetrics {
  record(report: GroupReport): void;
}

/** 1 when the scan did not do its job: not run, group missing, bad tags, or no change made. */
export function scanFailed(report: GroupReport): boolean {
  return report.outcome !== 'ok' && report.outcome !== 'partial';
}

export function createScanMetrics(metrics: Metrics): ScanMetrics {
  return {
    record(report) {
      metrics.addDimension(GROUP_DIMENSION, report.asgName);
      const count = (name: string, value: number) =>
        metrics.addMetric(name, MetricUnit.Count, value);
      count('BusyInstances', Object.keys(report.busy).length);
      count('IdleInstances', Object.keys(report.idle).length);
      count('UnknownInstances', Object.keys(report.error).length);
      count('SkippedInstances', report.skipped.length);
      count('ProtectedChanges', report.protected.length);
      count('UnprotectedChanges', report.unprotected.length);
      count('FailedChanges', report.failed.length);
      count('ScanFailed', scanFailed(report) ? 1 : 0);
      metrics.addMetric('ScanDuration', MetricUnit.Milliseconds, report.durationMs);
      // Publishing per group keeps each group's dimension on its own EMF document.
      metrics.publishStoredMetrics();
      // The same failure counts once more with only the service dimension, so one stack
      // alarm (ProtectScanFailedAlarm) watches every group, listed or discovered.
      count('ScanFailed', scanFailed(report) ? 1 : 0);
      count('FailedChanges', report.failed.length);
      metrics.publishStoredMetrics();
    },
  };
}

export const noMetrics: ScanMetrics = { record() {} };
