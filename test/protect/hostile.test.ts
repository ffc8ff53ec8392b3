/**
 * A protect scan of a group in which one instance misbehaves at the HTTP level (each hostile
 * server of test/helpers/hostile-servers.ts in turn, then all of them at once): the scan ends
 * in about one probe timeout, the other instances get their protection changes, and the
 * hostile one keeps its protection — an unknown answer never removes it.
 *
 * Broken variants tried: without the prober's own deadline the 1xx / headers / trickle / hang
 * scans never end (mocha timeout); with a plan that unprotects unknowns, "keeps its protection"
 * fails.
 */
import { expect } from 'chai';
import { mergeSettings, type Target } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { scanTarget, type ScanDeps } from '../../lib/protect/scan.js';
import { HOSTILE } from '../helpers/hostile-servers.js';
import { FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const TIMEOUT_MS = 300;
/** A scan is a probe round plus in-memory AWS calls: allow the loaded machine this much more. */
const LATE_MS = 400;

const BUSY = '127.0.11.1';
const IDLE = '127.0.11.2';
/** Nothing listens here on the workers' port: a refused connection. */
const REFUSING = '127.0.11.3';
/** One address per hostile server for the all-at-once scan; the first doubles as "the" hostile one. */
const hostileAddress = (i: number) => `127.0.11.${10 + i}`;

function member(instanceId: string, address: string, protectedFromScaleIn: boolean): FakeMember {
  return { instanceId, address, protectedFromScaleIn, lifecycleState: 'InService' };
}

describe('protect/scan with hostile instances', () => {
  let workers: WorkerSet;

  before(async () => {
    workers = await startWorkersOnOnePort([
      [BUSY, { kind: 'answer', body: 'BUSY' }],
      [IDLE, { kind: 'answer', body: 'IDLE' }],
      ...HOSTILE.map((c, i): [string, typeof c.behaviour] => [hostileAddress(i), c.behaviour]),
    ]);
  });
  after(async () => {
    await workers.close();
  });

  function target(): Target {
    return {
      asgName: 'workers',
      region: 'us-east-1',
      ...mergeSettings({ metricsPort: workers.port, timeoutMs: TIMEOUT_MS }),
    };
  }

  function depsFor(fleet: FakeFleet): ScanDeps {
    return {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
    };
  }

  HOSTILE.forEach((c, i) => {
    it(`keeps the protection of an instance that ${c.name}, and changes the others'`, async () => {
      const fleet = new FakeFleet().addGroup('workers', [
        member('i-busy', BUSY, false),
        member('i-idle', IDLE, true),
        member('i-hostile', hostileAddress(i), true),
      ]);
      const report = await scanTarget(target(), depsFor(fleet));

      expect(report.outcome).to.equal('ok');
      expect(report.durationMs).to.be.at.most(TIMEOUT_MS + LATE_MS);
      expect(fleet.protectionCalls).to.deep.equal([
        { groupName: 'workers', instanceIds: ['i-busy'], protect: true },
        { groupName: 'workers', instanceIds: ['i-idle'], protect: false },
      ]);
      expect(fleet.member('workers', 'i-hostile').protectedFromScaleIn).to.equal(true);
      const hostile = report.probes.find((p) => p.instanceId === 'i-hostile')!;
      expect(hostile).to.include({ status: 'unknown', action: 'none' });
      expect(hostile.reason).to.match(c.reason);
    });
  });

  it('scans a group of every hostile server at once in about one timeout', async () => {
    const fleet = new FakeFleet().addGroup('workers', [
      member('i-busy', BUSY, false),
      member('i-idle', IDLE, true),
      member('i-refusing', REFUSING, true),
      ...HOSTILE.map((_, i) => member(`i-hostile-${i}`, hostileAddress(i), true)),
    ]);
    const report = await scanTarget(target(), depsFor(fleet));

    expect(report.outcome).to.equal('ok');
    expect(report.durationMs).to.be.at.most(TIMEOUT_MS + LATE_MS);
    expect(report.protected).to.deep.equal(['i-busy']);
    expect(report.unprotected).to.deep.equal(['i-idle']);
    expect(Object.keys(report.error)).to.have.length(HOSTILE.length + 1);
    for (const m of fleet.groups.get('workers')!.members) {
      if (m.instanceId !== 'i-idle') expect(m.protectedFromScaleIn, m.instanceId).to.equal(true);
    }
    expect(report.probes.find((p) => p.instanceId === 'i-refusing')?.reason).to.equal(
      'connection refused',
    );
  });
});
