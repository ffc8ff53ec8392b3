/**
 * A retained instance that never answers is kept — silence is not idle — and the scan says so
 * in a metric an alarm watches (RetainedUnanswered; serverless.yml's RetainedUnansweredAlarm:
 * ≥ 1 on every minute for 30 minutes → the outcome topic). Through scanTarget against real
 * loopback workers, then the real Powertools Metrics printing EMF, parsed.
 *
 * Broken variants caught: counting every retained member as unanswered (busy and idle ones
 * too: 3 fail); leaving the count out of the fleet-wide document the alarm reads (3 fail).
 */
import { expect } from 'chai';
import { emittedEmf as emitted } from '../helpers/emf.js';
import { mergeSettings, type Target } from '../../lib/config.js';
import { silentLog } from '../../lib/log.js';
import type { RetainedInstances } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { createScanMetrics, GROUP_DIMENSION } from '../../lib/protect/metrics.js';
import { retainedSignals } from '../../lib/protect/retained.js';
import { scanTarget, type GroupReport } from '../../lib/protect/scan.js';
import { FakeFleet, type FakeMember } from '../protect/fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

const A = {
  busy: '127.0.33.11',
  idle: '127.0.33.12',
  garbage: '127.0.33.13',
  hang: '127.0.33.14',
  serving: '127.0.33.15',
};

function member(id: string, address: string | undefined, state: string): FakeMember {
  return { instanceId: id, address, lifecycleState: state, protectedFromScaleIn: false };
}

describe('retain: a retained instance that never answers', () => {
  let workers: WorkerSet;
  let terminated: string[];
  const retained: RetainedInstances = {
    terminateRetained: async (id) => void terminated.push(id),
  };

  before(async () => {
    workers = await startWorkersOnOnePort([
      [A.busy, { kind: 'answer', body: 'BUSY' }],
      [A.idle, { kind: 'answer', body: 'IDLE' }],
      [A.garbage, { kind: 'answer', body: 'perhaps' }],
      [A.hang, { kind: 'hang' }],
      [A.serving, { kind: 'answer', body: 'BUSY' }],
    ]);
  });
  after(() => workers.close());
  beforeEach(() => {
    terminated = [];
  });

  const target = (): Target => ({
    asgName: 'workers',
    region: 'us-east-1',
    ...mergeSettings({ metricsPort: workers.port, timeoutMs: 300 }),
  });

  async function scan(members: FakeMember[]): Promise<GroupReport> {
    const fleet = new FakeFleet().addGroup('workers', members);
    return scanTarget(target(), {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      retained,
      prober: createHttpProber({ loopbackOnly: true }),
      log: silentLog,
    });
  }

  const metricsOf = (report: GroupReport) => {
    const docs = emitted((m) => createScanMetrics(m).record(report));
    return {
      group: docs.find((d) => GROUP_DIMENSION in d)!,
      fleet: docs.find((d) => !(GROUP_DIMENSION in d))!,
    };
  };

  it('keeps it, and counts it as unanswered for the alarm: an unknown answer, a hung probe, no address', async () => {
    const report = await scan([
      member('i-garbage', A.garbage, 'Terminating:Retained'),
      member('i-hang', A.hang, 'Terminating:Retained'),
      member('i-no-ip', undefined, 'Terminating:Retained'),
      member('i-busy', A.busy, 'Terminating:Retained'),
      member('i-warm', undefined, 'Warmed:Terminating:Retained'),
      member('i-serving', A.serving, 'InService'),
    ]);
    expect(terminated).to.deep.equal([]);
    expect(report.retained!.every((r) => r.action === 'kept')).to.equal(true);
    const { group, fleet } = metricsOf(report);
    expect(group).to.include({
      [GROUP_DIMENSION]: 'workers',
      RetainedInstances: 5,
      RetainedUnanswered: 3,
      RetainedNoticeFailed: 0,
    });
    // The alarm reads the fleet-wide document (service dimension only).
    expect(fleet).to.include({ service: 'themis-protect', RetainedUnanswered: 3 });
  });

  it('does not count a retained instance that answered BUSY or IDLE', async () => {
    const report = await scan([
      member('i-busy', A.busy, 'Terminating:Retained'),
      member('i-idle', A.idle, 'Terminating:Retained'),
    ]);
    expect(terminated).to.deep.equal(['i-idle']);
    const { group, fleet } = metricsOf(report);
    expect(group).to.include({ RetainedInstances: 2, RetainedUnanswered: 0 });
    expect(fleet).to.include({ RetainedUnanswered: 0 });
  });

  it('counts a released notice that neither SNS nor the queue took', () => {
    const base = {
      lifecycleState: 'Terminating:Retained',
      reason: 'idle',
      status: 'idle' as const,
    };
    expect(
      retainedSignals([
        { ...base, instanceId: 'i-1', action: 'terminated', notice: 'failed' },
        { ...base, instanceId: 'i-2', action: 'terminated', notice: 'queued' },
        { ...base, instanceId: 'i-3', action: 'terminated', notice: 'published' },
      ]),
    ).to.deep.equal({ instances: 3, unanswered: 0, noticeFailed: 1 });
  });

  it('reports 0 fleet-wide, and no per-group retained metric, for a group without retained members', async () => {
    const report = await scan([member('i-serving', A.serving, 'InService')]);
    const { group, fleet } = metricsOf(report);
    expect(group).not.to.have.any.keys('RetainedInstances', 'RetainedUnanswered');
    expect(fleet).to.include({ RetainedUnanswered: 0, RetainedNoticeFailed: 0 });
  });
});
