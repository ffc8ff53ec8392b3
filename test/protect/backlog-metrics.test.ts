import { expect } from 'chai';
import { emittedEmf } from '../helpers/emf.js';
import { createScanMetrics, GROUP_DIMENSION } from '../../lib/protect/metrics.js';
import { unscannedReport, type GroupReport } from '../../lib/protect/scan.js';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/work';

interface EmfDoc extends Record<string, unknown> {
  _aws: {
    CloudWatchMetrics: Array<{
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string; StorageResolution?: number }>;
    }>;
  };
}

/** The EMF documents a real Powertools Metrics prints for `reports`. */
function emitted(reports: GroupReport[], highResolution?: boolean): EmfDoc[] {
  return emittedEmf<EmfDoc>((metrics) => {
    const sink = createScanMetrics(metrics, { highResolution });
    for (const r of reports) sink.record(r);
  });
}

function scanned(overrides: Partial<GroupReport> = {}): GroupReport {
  return {
    ...unscannedReport({ asgName: 'workers', region: 'us-east-1' }, 'failed', ''),
    outcome: 'ok',
    busy: { 'i-1': '127.0.0.1', 'i-2': '127.0.0.2', 'i-3': '127.0.0.3' },
    idle: { 'i-4': '127.0.0.4' },
    backlog: { queueUrl: QUEUE, visibleMessages: 40, inService: 4, backlogPerInstance: 10 },
    ...overrides,
  };
}

const perGroup = (docs: EmfDoc[]) => docs.filter((d) => GROUP_DIMENSION in d);
const names = (doc: EmfDoc) => doc._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name);

describe('protect/metrics for queue-driven groups', () => {
  it('publishes BacklogPerInstance, BusyInstances, IdleInstances and BusyRatio by group', () => {
    const [doc] = perGroup(emitted([scanned()]));
    expect(doc).to.include({
      [GROUP_DIMENSION]: 'workers',
      BacklogPerInstance: 10,
      VisibleMessages: 40,
      BusyInstances: 3,
      IdleInstances: 1,
      BusyRatio: 0.75,
      BacklogReadFailed: 0,
    });
    expect(doc!._aws.CloudWatchMetrics[0]!.Dimensions).to.deep.equal([
      ['service', GROUP_DIMENSION],
    ]);
  });

  it('publishes no backlog metrics for a group without a queue', () => {
    const [doc] = perGroup(emitted([scanned({ backlog: undefined })]));
    for (const name of ['BacklogPerInstance', 'VisibleMessages', 'BusyRatio', 'BacklogReadFailed'])
      expect(names(doc!)).to.not.include(name);
  });

  it('counts a queue it could not read and leaves the unknown values out, never 0', () => {
    const [doc] = perGroup(
      emitted([
        scanned({
          busy: {},
          idle: {},
          backlog: {
            queueUrl: QUEUE,
            visibleMessages: null,
            inService: 4,
            backlogPerInstance: null,
            error: 'AccessDenied',
          },
        }),
      ]),
    );
    expect(doc).to.include({ BacklogReadFailed: 1 });
    // Each checked on its own: a false 0 would make a target-tracking policy scale in.
    for (const name of ['BacklogPerInstance', 'VisibleMessages', 'BusyRatio'])
      expect(names(doc!)).to.not.include(name);
  });

  it('stores the per-group metrics at high resolution when scans are sub-minute', () => {
    const [high] = perGroup(emitted([scanned()], true));
    const resolutions = Object.fromEntries(
      high!._aws.CloudWatchMetrics[0]!.Metrics.map((m) => [m.Name, m.StorageResolution]),
    );
    expect(resolutions).to.include({ BacklogPerInstance: 1, BusyInstances: 1, BusyRatio: 1 });
    const [standard] = perGroup(emitted([scanned()]));
    for (const m of standard!._aws.CloudWatchMetrics[0]!.Metrics)
      expect(m.StorageResolution ?? 60).to.equal(60, m.Name);
  });
});
