/**
 * Concurrency follows the fleet: with no override, every instance of a group is probed at
 * once (within the descriptor budget), so hung instances cost one probe timeout, not one per
 * round of slots. Broken variant tried: the old fixed default of 50 — a scan of 120 hung
 * instances then takes three timeouts and both tests below fail.
 */
import { expect } from 'chai';
import { mergeSettings, type Target } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { createProtectHandler, type ProtectResult } from '../../lib/protect/handler.js';
import { scanTarget } from '../../lib/protect/scan.js';
import { FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const TIMEOUT_MS = 1500;
/**
 * Setting up the probes (paced, PROBES_PER_TURN a turn) and the in-memory AWS calls on a
 * loaded 2-core machine: up to ~800 ms measured at a load average of 20; still short of the
 * second timeout that the old fixed 50 slots cost (120 hung: three timeouts).
 */
const LATE_MS = 1000;
/** More hung instances than the old default of 50 slots (and than 2 × 50). */
const HUNG = 120;
const HANG = '127.0.13.1';
const BUSY = '127.0.13.2';

describe('protect: probe concurrency follows the fleet', () => {
  let workers: WorkerSet;

  before(async () => {
    // One server holds every hung instance's connection: they share its address.
    workers = await startWorkersOnOnePort([
      [HANG, { kind: 'hang' }],
      [BUSY, { kind: 'answer', body: 'BUSY' }],
    ]);
  });
  after(async () => {
    await workers.close();
  });

  const group = (prefix: string): FakeMember[] => [
    ...Array.from({ length: HUNG }, (_, i) => ({
      instanceId: `i-${prefix}hung${i}`,
      address: HANG,
      protectedFromScaleIn: true,
      lifecycleState: 'InService',
    })),
    {
      instanceId: `i-${prefix}busy`,
      address: BUSY,
      protectedFromScaleIn: false,
      lifecycleState: 'InService',
    },
  ];

  it(`scans a group with ${HUNG} hung instances in about one probe timeout`, async () => {
    const fleet = new FakeFleet().addGroup('workers', group(''));
    const target: Target = {
      asgName: 'workers',
      region: 'us-east-1',
      ...mergeSettings({ metricsPort: workers.port, timeoutMs: TIMEOUT_MS }),
    };
    const report = await scanTarget(target, {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
    });
    expect(Object.keys(report.error)).to.have.length(HUNG);
    expect(report.protected).to.deep.equal(['i-busy']);
    expect(report.durationMs).to.be.within(TIMEOUT_MS, TIMEOUT_MS + LATE_MS);
  });

  it('scans two such groups at once in about one probe timeout (they share the budget)', async () => {
    const fleet = new FakeFleet().addGroup('a', group('a')).addGroup('b', group('b'));
    const handler = createProtectHandler({
      config: {
        region: 'us-east-1',
        settings: { metricsPort: workers.port, timeoutMs: TIMEOUT_MS },
        targets: [
          { asgName: 'a', region: 'us-east-1', settings: {} },
          { asgName: 'b', region: 'us-east-1', settings: {} },
        ],
        tagDiscovery: false,
        scansPerInvocation: 1,
      },
      portsFor: () => ({ groups: fleet, addresses: fleet, protection: fleet }),
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
    });
    const started = performance.now();
    const result: ProtectResult = await handler({});
    const elapsed = performance.now() - started;
    const reports = result.scans[0]!.groups;
    expect(reports.map((r) => [r.asgName, Object.keys(r.error).length, r.protected])).to.deep.equal(
      [
        ['a', HUNG, ['i-abusy']],
        ['b', HUNG, ['i-bbusy']],
      ],
    );
    expect(elapsed).to.be.within(TIMEOUT_MS, TIMEOUT_MS + LATE_MS);
  });
});
