import { expect } from 'chai';
import { mergeSettings, type Target } from '../../lib/config.js';
import { AddressNotAllowedError } from '../../lib/errors.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { scanTarget, type ScanDeps } from '../../lib/protect/scan.js';
import { awsError, FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const A = {
  busyNew: '127.0.9.11',
  busyOld: '127.0.9.12',
  idleOld: '127.0.9.13',
  idleNew: '127.0.9.14',
  garbage: '127.0.9.15',
  hang: '127.0.9.16',
  pending: '127.0.9.17',
  waiting: '127.0.9.18',
};

function member(
  instanceId: string,
  address: string | undefined,
  protectedFromScaleIn: boolean,
  lifecycleState = 'InService',
): FakeMember {
  return {
    instanceId,
    address,
    protectedFromScaleIn,
    lifecycleState,
    availabilityZone: 'us-east-1a',
  };
}

describe('protect/scan', () => {
  let workers: WorkerSet;
  let fleet: FakeFleet;
  let log: ReturnType<typeof createRecordingLog>;
  let deps: ScanDeps;

  before(async () => {
    workers = await startWorkersOnOnePort([
      [A.busyNew, { kind: 'answer', body: 'BUSY' }],
      [A.busyOld, { kind: 'answer', body: 'busy\n' }],
      [A.idleOld, { kind: 'answer', body: 'IDLE' }],
      [A.idleNew, { kind: 'answer', body: 'Idle' }],
      [A.garbage, { kind: 'answer', body: '<html>oops</html>' }],
      [A.hang, { kind: 'hang' }],
      [A.pending, { kind: 'answer', body: 'IDLE' }],
      [A.waiting, { kind: 'answer', body: 'IDLE' }],
    ]);
  });
  after(async () => {
    await workers.close();
  });

  beforeEach(() => {
    for (const w of workers.byAddress.values()) w.requests.length = 0;
    fleet = new FakeFleet().addGroup('workers', [
      member('i-busy-new', A.busyNew, false),
      member('i-busy-old', A.busyOld, true),
      member('i-idle-old', A.idleOld, true),
      member('i-idle-new', A.idleNew, false),
      member('i-garbage', A.garbage, true),
      member('i-hang', A.hang, false),
      member('i-pending', A.pending, false, 'Pending'),
      member('i-waiting', A.waiting, true, 'Terminating:Wait'),
      member('i-no-ip', undefined, true),
    ]);
    log = createRecordingLog();
    deps = {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      prober: createHttpProber({ loopbackOnly: true }),
      log,
    };
  });

  function target(overrides: Partial<Target> = {}): Target {
    return {
      asgName: 'workers',
      region: 'us-east-1',
      ...mergeSettings({ metricsPort: workers.port, timeoutMs: 300 }),
      ...overrides,
    };
  }

  it('protects the busy, unprotects the idle and leaves garbage and hangs alone', async () => {
    const report = await scanTarget(target(), deps);

    expect(report.outcome).to.equal('ok');
    expect(report.busy).to.deep.equal({ 'i-busy-new': A.busyNew, 'i-busy-old': A.busyOld });
    expect(report.idle).to.deep.equal({ 'i-idle-old': A.idleOld, 'i-idle-new': A.idleNew });
    expect(report.error).to.deep.equal({ 'i-garbage': A.garbage, 'i-hang': A.hang });
    expect(report.planned).to.deep.equal({ protect: ['i-busy-new'], unprotect: ['i-idle-old'] });
    expect(report.protected).to.deep.equal(['i-busy-new']);
    expect(report.unprotected).to.deep.equal(['i-idle-old']);
    expect(report.failed).to.deep.equal([]);

    const state = (id: string) => fleet.member('workers', id).protectedFromScaleIn;
    expect(state('i-busy-new')).to.equal(true);
    expect(state('i-idle-old')).to.equal(false);
    expect(state('i-garbage')).to.equal(true, 'an unknown answer must keep protection');
    expect(state('i-hang')).to.equal(false);
    expect(state('i-no-ip')).to.equal(true);
    expect(fleet.protectionCalls).to.deep.equal([
      { groupName: 'workers', instanceIds: ['i-busy-new'], protect: true },
      { groupName: 'workers', instanceIds: ['i-idle-old'], protect: false },
    ]);

    const hang = report.probes.find((p) => p.instanceId === 'i-hang')!;
    expect(hang.reason).to.match(/timeout after 300 ms/);
    const garbage = report.probes.find((p) => p.instanceId === 'i-garbage')!;
    expect(garbage).to.include({ status: 'unknown', protectedBefore: true, action: 'none' });
    expect(garbage.reason).to.match(/unexpected answer/);
    expect(report.probes.map((p) => p.instanceId)).to.have.members([
      'i-busy-new',
      'i-busy-old',
      'i-idle-old',
      'i-idle-new',
      'i-garbage',
      'i-hang',
    ]);
    for (const p of report.probes) {
      expect(p.latencyMs).to.be.a('number').at.least(0);
      expect(p.availabilityZone).to.equal('us-east-1a');
    }
  });

  it('skips instances that are not InService without probing them, and those without an address', async () => {
    const report = await scanTarget(target(), deps);
    expect(report.skipped).to.deep.equal([
      {
        instanceId: 'i-pending',
        lifecycleState: 'Pending',
        availabilityZone: 'us-east-1a',
        protectedFromScaleIn: false,
        reason: 'not InService (Pending)',
      },
      {
        instanceId: 'i-waiting',
        lifecycleState: 'Terminating:Wait',
        availabilityZone: 'us-east-1a',
        protectedFromScaleIn: true,
        reason: 'not InService (Terminating:Wait)',
      },
      {
        instanceId: 'i-no-ip',
        lifecycleState: 'InService',
        availabilityZone: 'us-east-1a',
        protectedFromScaleIn: true,
        reason: 'no private IP address',
      },
    ]);
    expect(workers.byAddress.get(A.pending)!.requests).to.deep.equal([]);
    expect(workers.byAddress.get(A.waiting)!.requests).to.deep.equal([]);
    const touched = fleet.protectionCalls.flatMap((c) => c.instanceIds);
    expect(touched).to.not.include.members(['i-pending', 'i-waiting', 'i-no-ip']);
  });

  it('asks each InService worker once, at the configured path', async () => {
    await scanTarget(target({ busyURL: '/work_status' }), deps);
    expect(workers.probedAddresses().sort()).to.deep.equal(
      [A.busyNew, A.busyOld, A.idleOld, A.idleNew, A.garbage, A.hang].sort(),
    );
    expect(workers.byAddress.get(A.busyNew)!.requests).to.deep.equal(['/work_status']);
  });

  it('writes one decision line per instance with its group and reason', async () => {
    await scanTarget(target(), deps);
    const decisions = log.lines.filter((l) => l.message === 'decision');
    expect(decisions.map((l) => l.fields.instanceId)).to.have.members([
      'i-busy-new',
      'i-busy-old',
      'i-idle-old',
      'i-idle-new',
      'i-garbage',
      'i-hang',
      'i-pending',
      'i-waiting',
      'i-no-ip',
    ]);
    for (const l of decisions) {
      expect(l.fields.group).to.equal('workers');
      expect(l.fields.reason).to.be.a('string').with.length.above(3);
    }
    const byId = Object.fromEntries(decisions.map((l) => [l.fields.instanceId, l.fields]));
    expect(byId['i-busy-new']).to.include({ decision: 'protect', status: 'busy' });
    expect(byId['i-idle-old']).to.include({ decision: 'unprotect', status: 'idle' });
    expect(byId['i-pending']).to.include({ decision: 'skip', lifecycleState: 'Pending' });
    expect(byId['i-hang']!.probeReason).to.match(/timeout/);
  });

  it('plans and reports in a dry run but makes no protection call', async () => {
    const report = await scanTarget(target({ dryRun: true }), deps);
    expect(report.dryRun).to.equal(true);
    expect(report.planned).to.deep.equal({ protect: ['i-busy-new'], unprotect: ['i-idle-old'] });
    expect(report.protected).to.deep.equal([]);
    expect(report.unprotected).to.deep.equal([]);
    expect(fleet.protectionCalls).to.deep.equal([]);
    expect(fleet.member('workers', 'i-busy-new').protectedFromScaleIn).to.equal(false);
  });

  it('protects unknown answers when protectUnknown is set', async () => {
    const report = await scanTarget(target({ protectUnknown: true }), deps);
    expect(report.planned.protect).to.have.members(['i-busy-new', 'i-hang']);
    expect(fleet.member('workers', 'i-hang').protectedFromScaleIn).to.equal(true);
  });

  it('makes no protection call when every instance is already right', async () => {
    await scanTarget(target(), deps);
    const before = fleet.protectionCalls.length;
    const second = await scanTarget(target(), deps);
    expect(second.planned).to.deep.equal({ protect: [], unprotect: [] });
    expect(fleet.protectionCalls.length).to.equal(before);
  });

  it('reports a group that does not exist as not-found, probing and changing nothing', async () => {
    const report = await scanTarget(target({ asgName: 'nope' }), deps);
    expect(report.outcome).to.equal('not-found');
    expect(report.message).to.match(/"nope" not found in us-east-1/);
    expect(workers.probedAddresses()).to.deep.equal([]);
    expect(fleet.protectionCalls).to.deep.equal([]);
  });

  it('reports a failed group listing as a failed scan instead of throwing', async () => {
    fleet.failDescribe = awsError('InternalFailure', 'boom', 'DescribeAutoScalingGroups');
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('failed');
    expect(report.message).to.match(/cannot describe the group: boom/);
    expect(log.lines.some((l) => l.level === 'error' && l.fields.group === 'workers')).to.equal(
      true,
    );
  });

  it('reports a failed address lookup as a failed scan', async () => {
    fleet.failAddresses = awsError('InternalFailure', 'ec2 down', 'DescribeInstances');
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('failed');
    expect(report.message).to.match(/addresses: ec2 down/);
    expect(fleet.protectionCalls).to.deep.equal([]);
  });

  it('calls the scan failed when not one planned change could be made', async () => {
    fleet.failProtection = () => awsError('AccessDenied', 'not authorised');
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('failed');
    expect(report.failed.map((f) => f.instanceId)).to.have.members(['i-busy-new', 'i-idle-old']);
    expect(report.message).to.match(/none of the 2 protection changes/);
    expect(
      log.lines.some((l) => l.level === 'error' && l.message === 'protection changes failed'),
    ).to.equal(true);
  });

  it('calls the scan partial when some changes were made and some failed', async () => {
    fleet.failProtection = (call) =>
      call.protect ? awsError('AccessDenied', 'not authorised') : undefined;
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('partial');
    expect(report.unprotected).to.deep.equal(['i-idle-old']);
    expect(report.failed).to.deep.equal([
      { instanceId: 'i-busy-new', action: 'protect', reason: 'AccessDenied: not authorised' },
    ]);
  });

  it('measures the scan with the injected clock', async () => {
    let now = 1_000;
    const report = await scanTarget(target(), { ...deps, clock: () => (now += 250) });
    expect(report.durationMs).to.equal(250);
  });

  it('stops loudly when an address is outside loopback (the test guard)', async () => {
    // Outside 127.0.0.0/8, yet nothing could be sent even if the guard broke: the kernel
    // refuses TCP to the limited broadcast address.
    fleet.addGroup('outside', [member('i-x', '255.255.255.255', false)]);
    let caught: unknown;
    try {
      await scanTarget(target({ asgName: 'outside' }), deps);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(AddressNotAllowedError);
  });
});
