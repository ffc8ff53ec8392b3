import { expect } from 'chai';
import { emittedEmf as emitted } from '../helpers/emf.js';
import { createScanMetrics, GROUP_DIMENSION } from '../../lib/protect/metrics.js';
import { unscannedReport, type GroupReport } from '../../lib/protect/scan.js';

function scanned(asgName: string, overrides: Partial<GroupReport> = {}): GroupReport {
  return {
    ...unscannedReport({ asgName, region: 'us-east-1' }, 'failed', ''),
    outcome: 'ok',
    busy: { 'i-1': '127.0.0.1', 'i-2': '127.0.0.2' },
    idle: { 'i-3': '127.0.0.3' },
    error: { 'i-4': '127.0.0.4' },
    protected: ['i-1'],
    unprotected: ['i-3'],
    skipped: [{ instanceId: 'i-5', lifecycleState: 'Pending', reason: 'not InService (Pending)' }],
    durationMs: 1234,
    ...overrides,
  };
}

describe('protect/metrics', () => {
  it('emits one EMF document per group with its counts, duration and group dimension', () => {
    const docs = emitted((m) => {
      const sink = createScanMetrics(m);
      sink.record(scanned('alpha'));
      sink.record(
        scanned('beta', {
          outcome: 'partial',
          failed: [{ instanceId: 'i-9', action: 'protect', reason: 'x' }],
        }),
      );
    });
    const perGroup = docs.filter((d) => GROUP_DIMENSION in d);
    expect(perGroup).to.have.length(2);
    const [alpha, beta] = perGroup as Array<Record<string, unknown>>;
    expect(alpha).to.include({
      [GROUP_DIMENSION]: 'alpha',
      service: 'themis-protect',
      BusyInstances: 2,
      IdleInstances: 1,
      UnknownInstances: 1,
      SkippedInstances: 1,
      ProtectedChanges: 1,
      UnprotectedChanges: 1,
      FailedChanges: 0,
      ScanFailed: 0,
      ScanDuration: 1234,
    });
    const aws = alpha!._aws as {
      CloudWatchMetrics: Array<{
        Namespace: string;
        Dimensions: string[][];
        Metrics: Array<{ Name: string; Unit: string }>;
      }>;
    };
    expect(aws.CloudWatchMetrics[0]!.Namespace).to.equal('themis-test');
    expect(aws.CloudWatchMetrics[0]!.Dimensions[0]).to.include(GROUP_DIMENSION);
    expect(aws.CloudWatchMetrics[0]!.Metrics.find((x) => x.Name === 'ScanDuration')!.Unit).to.equal(
      'Milliseconds',
    );
    expect(beta).to.include({ [GROUP_DIMENSION]: 'beta', FailedChanges: 1, ScanFailed: 0 });
  });

  const failedOutcomes = ['failed', 'not-found', 'config-error'] as const;
  for (const outcome of failedOutcomes) {
    it(`counts a ${outcome} group as ScanFailed`, () => {
      const [doc] = emitted((m) =>
        createScanMetrics(m).record(
          unscannedReport({ asgName: 'g', region: 'us-east-1' }, outcome, 'x'),
        ),
      );
      expect(doc).to.include({ [GROUP_DIMENSION]: 'g', ScanFailed: 1, BusyInstances: 0 });
    });
  }

  it('also counts failures under the service dimension alone, for the fleet-wide alarm', () => {
    const docs = emitted((m) => {
      const sink = createScanMetrics(m);
      sink.record(unscannedReport({ asgName: 'gone', region: 'us-east-1' }, 'not-found', 'x'));
      sink.record(
        scanned('fine', {
          outcome: 'partial',
          failed: [{ instanceId: 'i-9', action: 'protect', reason: 'x' }],
        }),
      );
    });
    const fleetWide = docs.filter((d) => !(GROUP_DIMENSION in d));
    expect(fleetWide.map((d) => [d.ScanFailed, d.FailedChanges])).to.deep.equal([
      [1, 0],
      [0, 1],
    ]);
    for (const d of fleetWide) {
      const aws = d._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> };
      expect(aws.CloudWatchMetrics[0]!.Dimensions).to.deep.equal([['service']]);
    }
  });
});
