/**
 * Concurrency follows the fleet: with no override, every instance of a group is probed at
 * once (within the descriptor budget), so hung instances cost one probe timeout, not one per
 * round of slots.
 *
 * Asserted on structure, not on wall time (a loaded machine stretches any duration): the
 * hung instances' server counts the requests it holds open at once. It holds each request
 * until every hung instance of the scan is waiting on it together — the proof that they all
 * share one round — and then drops them all, so the scan ends at once instead of after a
 * timeout. Were fewer in flight at once, nothing would be dropped: the held probes would
 * time out round after round and the most ever held together would be the slot count.
 * The probe timeout is generous for that reason: it bounds only the broken case.
 *
 * Broken variant tried: the old fixed default of 50 (`defaultProbeConcurrency` returning
 * 50) — at most 50 requests were ever held together (100 across the two groups), and both
 * tests below failed on the count after three rounds of timeouts (~3 × PROBE_TIMEOUT_MS).
 */
import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { mergeSettings, type Target } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { createProtectHandler, type ProtectResult } from '../../lib/protect/handler.js';
import { scanTarget } from '../../lib/protect/scan.js';
import { FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

/** Only the broken variant waits for it (three rounds); the passing tests never do. */
const PROBE_TIMEOUT_MS = 5000;
/** More hung instances than the old default of 50 slots (and than 2 × 50). */
const HUNG = 120;
const HANG = '127.0.13.1';
const BUSY = '127.0.13.2';

/**
 * The hung instances' side: requests held open, the most ever held at once, and a barrier —
 * when `releaseAt` are held together, all of them are dropped (the probes fail at once).
 */
class HeldRequests {
  private held = new Set<IncomingMessage>();
  peak = 0;
  received = 0;
  releaseAt = Infinity;

  hold(req: IncomingMessage): void {
    this.received++;
    this.held.add(req);
    this.peak = Math.max(this.peak, this.held.size);
    req.socket.once('close', () => this.held.delete(req));
    if (this.held.size >= this.releaseAt) {
      for (const r of this.held) r.socket.destroy();
      this.held.clear();
    }
  }

  reset(releaseAt: number): void {
    this.held.clear();
    this.peak = 0;
    this.received = 0;
    this.releaseAt = releaseAt;
  }
}

describe('protect: probe concurrency follows the fleet', () => {
  let workers: WorkerSet;
  const hung = new HeldRequests();

  before(async () => {
    // One server holds every hung instance's connection: they share its address.
    workers = await startWorkersOnOnePort([
      [HANG, { kind: 'handler', handle: (req) => hung.hold(req) }],
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

  it(`probes all ${HUNG} hung instances of a group at once (one round of timeouts)`, async function () {
    this.timeout(4 * PROBE_TIMEOUT_MS + 10_000);
    hung.reset(HUNG);
    const fleet = new FakeFleet().addGroup('workers', group(''));
    const target: Target = {
      asgName: 'workers',
      region: 'us-east-1',
      ...mergeSettings({ metricsPort: workers.port, timeoutMs: PROBE_TIMEOUT_MS }),
    };
    const report = await scanTarget(target, {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
    });
    expect(hung.peak, 'hung probes in flight at once').to.equal(HUNG);
    expect(hung.received, 'one probe per hung instance').to.equal(HUNG);
    expect(Object.keys(report.error)).to.have.length(HUNG);
    expect(report.protected).to.deep.equal(['i-busy']);
  });

  it('probes two such groups at once, every hung instance of both together (they share the budget)', async function () {
    this.timeout(4 * PROBE_TIMEOUT_MS + 10_000);
    hung.reset(2 * HUNG);
    const fleet = new FakeFleet().addGroup('a', group('a')).addGroup('b', group('b'));
    const handler = createProtectHandler({
      config: {
        region: 'us-east-1',
        settings: { metricsPort: workers.port, timeoutMs: PROBE_TIMEOUT_MS },
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
    const result: ProtectResult = await handler({});
    expect(hung.peak, 'hung probes in flight at once').to.equal(2 * HUNG);
    expect(hung.received, 'one probe per hung instance').to.equal(2 * HUNG);
    const reports = result.scans[0]!.groups;
    expect(reports.map((r) => [r.asgName, Object.keys(r.error).length, r.protected])).to.deep.equal(
      [
        ['a', HUNG, ['i-abusy']],
        ['b', HUNG, ['i-bbusy']],
      ],
    );
  });
});
