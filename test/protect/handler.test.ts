import { expect } from 'chai';
import sinon from 'sinon';
import { ConfigError, InvalidEventError } from '../../lib/errors.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import type { ProtectConfig } from '../../lib/protect/config.js';
import {
  createProtectHandler,
  type ProtectHandlerDeps,
  type ProtectResult,
} from '../../lib/protect/handler.js';
import type { GroupReport } from '../../lib/protect/scan.js';
import { FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const IP = {
  alphaBusy: '127.0.8.11',
  alphaIdle: '127.0.8.12',
  betaBusy: '127.0.8.21',
  gammaBusy: '127.0.8.31',
  deltaBusy: '127.0.8.41',
  deltaIdle: '127.0.8.42',
  westBusy: '127.0.8.51',
};

const inService = (instanceId: string, address: string, protectedFromScaleIn: boolean) =>
  ({ instanceId, address, protectedFromScaleIn, lifecycleState: 'InService' }) as FakeMember;

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('protect/handler', () => {
  let workers: WorkerSet;
  let east: FakeFleet;
  let west: FakeFleet;
  let log: ReturnType<typeof createRecordingLog>;
  let regionsBuilt: string[];

  before(async () => {
    workers = await startWorkersOnOnePort([
      [IP.alphaBusy, { kind: 'answer', body: 'BUSY' }],
      [IP.alphaIdle, { kind: 'answer', body: 'IDLE' }],
      [IP.betaBusy, { kind: 'answer', body: 'BUSY' }],
      [IP.gammaBusy, { kind: 'answer', body: 'BUSY' }],
      [IP.deltaBusy, { kind: 'answer', body: 'BUSY' }],
      [IP.deltaIdle, { kind: 'answer', body: 'IDLE' }],
      [IP.westBusy, { kind: 'answer', body: 'BUSY' }],
    ]);
  });
  after(() => workers.close());

  beforeEach(() => {
    for (const w of workers.byAddress.values()) w.requests.length = 0;
    east = new FakeFleet()
      .addGroup(
        'alpha',
        [inService('i-a1', IP.alphaBusy, false), inService('i-a2', IP.alphaIdle, true)],
        { 'themis:enabled': 'true' },
      )
      .addGroup('beta', [inService('i-b1', IP.betaBusy, false)], {
        'themis:enabled': 'true',
        'themis:metrics-port': 'ninety',
      })
      .addGroup('gamma', [inService('i-g1', IP.gammaBusy, false)], { 'themis:enabled': 'false' })
      .addGroup('delta', [
        inService('i-d1', IP.deltaBusy, false),
        inService('i-d2', IP.deltaIdle, true),
      ]);
    west = new FakeFleet().addGroup('west', [inService('i-w1', IP.westBusy, false)]);
    log = createRecordingLog();
    regionsBuilt = [];
  });

  function handlerWith(
    config: Partial<ProtectConfig> = {},
    extra: Partial<ProtectHandlerDeps> = {},
  ) {
    const fleets: Record<string, FakeFleet> = { 'us-east-1': east, 'eu-west-1': west };
    return createProtectHandler({
      config: {
        region: 'us-east-1',
        settings: { metricsPort: workers.port, timeoutMs: 500 },
        targets: [],
        tagDiscovery: true,
        scansPerInvocation: 1,
        probeConcurrency: 8,
        ...config,
      },
      portsFor: (region) => {
        regionsBuilt.push(region);
        const fleet = fleets[region];
        if (!fleet) throw new Error(`no fake fleet for ${region}`);
        return { groups: fleet, addresses: fleet, protection: fleet };
      },
      prober: createHttpProber({ loopbackOnly: true }),
      log,
      ...extra,
    });
  }

  const groupsOf = (result: ProtectResult): GroupReport[] => result.scans[0]!.groups;
  const byName = (result: ProtectResult) =>
    Object.fromEntries(groupsOf(result).map((g) => [g.asgName, g]));

  it('puts the Lambda request id on every line of an invocation, and not on the next', async () => {
    const handler = handlerWith();
    await handler({}, { getRemainingTimeInMillis: () => 75_000, awsRequestId: 'req-91c0' });
    expect(log.lines.length).to.be.greaterThan(0);
    for (const line of log.lines)
      expect(line.fields, line.message).to.include({ requestId: 'req-91c0' });
    log.lines.length = 0;
    await handler({}, { getRemainingTimeInMillis: () => 75_000, awsRequestId: 'req-91c1' });
    expect(new Set(log.lines.map((l) => l.fields.requestId))).to.deep.equal(new Set(['req-91c1']));
  });

  it('takes the themis event verbatim and protects the busy, unprotects the idle', async () => {
    const handler = handlerWith({ tagDiscovery: false });
    const result = await handler({
      asgName: 'delta',
      region: 'us-east-1',
      metricsPort: String(workers.port),
      busyURL: 'work_status',
      busyValue: 'BUSY',
      idleValue: 'IDLE',
      dryRun: 'false',
    });
    const [report] = groupsOf(result);
    expect(report).to.include({
      asgName: 'delta',
      region: 'us-east-1',
      outcome: 'ok',
      dryRun: false,
    });
    expect(report!.busy).to.deep.equal({ 'i-d1': IP.deltaBusy });
    expect(report!.idle).to.deep.equal({ 'i-d2': IP.deltaIdle });
    expect(report!.protected).to.deep.equal(['i-d1']);
    expect(report!.unprotected).to.deep.equal(['i-d2']);
    expect(east.member('delta', 'i-d1').protectedFromScaleIn).to.equal(true);
    expect(east.member('delta', 'i-d2').protectedFromScaleIn).to.equal(false);
    expect(workers.byAddress.get(IP.deltaBusy)!.requests).to.deep.equal(['/work_status']);
  });

  it("uses the function's region when the event gives none and builds another region's clients once", async () => {
    const handler = handlerWith();
    await handler({ asgName: 'delta' });
    const result = await handler({ asgName: 'west', region: 'eu-west-1' });
    await handler({ asgName: 'west', region: 'eu-west-1' });
    expect(groupsOf(result)[0]!.protected).to.deep.equal(['i-w1']);
    expect(west.member('west', 'i-w1').protectedFromScaleIn).to.equal(true);
    expect(regionsBuilt).to.deep.equal(['us-east-1', 'eu-west-1']);
  });

  it('scans every group listed in { targets }', async () => {
    const result = await handlerWith()({
      targets: [{ asgName: 'delta' }, { asgName: 'west', region: 'eu-west-1', dryRun: true }],
    });
    const groups = byName(result);
    expect(Object.keys(groups)).to.deep.equal(['delta', 'west']);
    expect(groups.delta!.protected).to.deep.equal(['i-d1']);
    expect(groups.west!.planned.protect).to.deep.equal(['i-w1']);
    expect(west.protectionCalls).to.deep.equal([]);
  });

  it('on a scheduled event scans the groups tagged themis:enabled=true, never the others', async () => {
    const result = await handlerWith()({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      region: 'eu-west-1',
      detail: {},
    });
    const groups = byName(result);
    expect(Object.keys(groups).sort()).to.deep.equal(['alpha', 'beta']);
    expect(groups.alpha!.protected).to.deep.equal(['i-a1']);
    expect(groups.alpha!.unprotected).to.deep.equal(['i-a2']);
    expect(workers.byAddress.get(IP.gammaBusy)!.requests).to.deep.equal([]);
    expect(workers.byAddress.get(IP.deltaBusy)!.requests).to.deep.equal([]);
    expect(east.protectionCalls.every((c) => c.groupName === 'alpha')).to.equal(true);
    expect(regionsBuilt).to.deep.equal(['us-east-1']);
  });

  it('reports a group with a bad tag as its own ConfigError, leaves it alone and scans the rest', async () => {
    const result = await handlerWith()({});
    const beta = byName(result).beta!;
    expect(beta.outcome).to.equal('config-error');
    expect(beta.field).to.equal('themis:metrics-port');
    expect(beta.message).to.match(/^themis:metrics-port: /);
    expect(workers.byAddress.get(IP.betaBusy)!.requests).to.deep.equal([]);
    expect(east.protectionCalls.some((c) => c.groupName === 'beta')).to.equal(false);
    expect(byName(result).alpha!.outcome).to.equal('ok');
    const line = log.lines.find((l) => l.fields.group === 'beta' && l.level === 'error');
    expect(line?.fields.field).to.equal('themis:metrics-port');
  });

  it('scans THEMIS_TARGETS groups on a scheduled run and reports a missing one as not-found', async () => {
    const result = await handlerWith({
      tagDiscovery: false,
      targets: [
        { asgName: 'delta', region: 'us-east-1', settings: {} },
        { asgName: 'ghost', region: 'us-east-1', settings: {} },
      ],
    })({});
    const groups = byName(result);
    expect(Object.keys(groups)).to.deep.equal(['delta', 'ghost']);
    expect(groups.delta!.protected).to.deep.equal(['i-d1']);
    expect(groups.ghost!.outcome).to.equal('not-found');
  });

  it('also scans a group named explicitly even when it is tagged themis:enabled=false', async () => {
    const result = await handlerWith()({ asgName: 'gamma' });
    expect(groupsOf(result)[0]!.protected).to.deep.equal(['i-g1']);
  });

  describe('precedence: defaults < environment < THEMIS_TARGETS entry < tags < event', () => {
    // Each layer sets its own probe path; the worker records which one it was asked.
    const pathAsked = () => workers.byAddress.get(IP.deltaBusy)!.requests[0];

    function layered(tag: boolean) {
      if (tag) east.groups.get('delta')!.tags['themis:busy-url'] = '/from-tag';
      return handlerWith({
        tagDiscovery: false,
        settings: { metricsPort: workers.port, timeoutMs: 500, busyURL: '/from-env' },
        targets: [{ asgName: 'delta', region: 'us-east-1', settings: { busyURL: '/from-entry' } }],
      });
    }

    it('the event wins over everything', async () => {
      await layered(true)({ asgName: 'delta', busyURL: '/from-event' });
      expect(pathAsked()).to.equal('/from-event');
    });
    it('tags win over the THEMIS_TARGETS entry', async () => {
      await layered(true)({});
      expect(pathAsked()).to.equal('/from-tag');
    });
    it('the THEMIS_TARGETS entry wins over THEMIS_* variables, for an event target too', async () => {
      await layered(false)({ asgName: 'delta' });
      expect(pathAsked()).to.equal('/from-entry');
    });
    it('THEMIS_* variables win over the defaults', async () => {
      await handlerWith({
        tagDiscovery: false,
        settings: { metricsPort: workers.port, timeoutMs: 500, busyURL: '/from-env' },
      })({ asgName: 'delta' });
      expect(pathAsked()).to.equal('/from-env');
    });
    it('the default path is /work_status', async () => {
      await handlerWith({ tagDiscovery: false })({ asgName: 'delta' });
      expect(pathAsked()).to.equal('/work_status');
    });
  });

  const badEvents: Array<[string, unknown, string]> = [
    ['a bad metricsPort', { asgName: 'delta', metricsPort: 'x' }, 'metricsPort'],
    [
      'one bad target among good ones',
      { targets: [{ asgName: 'alpha' }, { asgName: 'delta', busyURL: 'http://x/' }] },
      'targets[1].busyURL',
    ],
    ['a typo', { asgName: 'delta', dryrun: true }, 'dryrun'],
  ];
  for (const [what, event, field] of badEvents) {
    it(`refuses an event with ${what} before touching any group`, async () => {
      const err = await thrown(handlerWith()(event));
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).field).to.equal(field);
      expect(east.describeCalls).to.deep.equal([]);
      expect(east.protectionCalls).to.deep.equal([]);
      expect(workers.probedAddresses()).to.deep.equal([]);
      expect(log.lines.find((l) => l.level === 'error')?.fields.field).to.equal(field);
    });
  }

  it('refuses an unreadable event with InvalidEventError', async () => {
    expect(await thrown(handlerWith()('delta'))).to.be.instanceOf(InvalidEventError);
    expect(east.protectionCalls).to.deep.equal([]);
  });

  it('fails the invocation when discovery fails and there is nothing else to scan', async () => {
    east.failDescribe = new Error('throttled for good');
    expect(await thrown(handlerWith()({}))).to.be.instanceOf(Error);
  });

  it('still scans THEMIS_TARGETS groups when discovery fails', async () => {
    let calls = 0;
    east.findGroupsByTag = async (k, v) => {
      calls++;
      throw new Error(`discovery down ${k}=${v}`);
    };
    const result = await handlerWith({
      tagDiscovery: true,
      targets: [{ asgName: 'delta', region: 'us-east-1', settings: {} }],
    })({});
    expect(calls).to.equal(1);
    expect(Object.keys(byName(result))).to.deep.equal(['delta']);
    expect(log.lines.some((l) => l.message === 'tag discovery failed')).to.equal(true);
  });

  it('returns no scans and says so when there is nothing to scan', async () => {
    const result = await handlerWith({ tagDiscovery: false })({});
    expect(result).to.deep.equal({ scans: [] });
    expect(log.lines.some((l) => l.level === 'warn' && /nothing to scan/.test(l.message))).to.equal(
      true,
    );
  });

  describe('Auto Scaling listings', () => {
    it('describes an event-named group once: the first scan reuses the listing read for its tags', async () => {
      const result = await handlerWith({ tagDiscovery: false })({ asgName: 'delta' });
      expect(east.describeCalls).to.deep.equal([['delta']]);
      expect(byName(result).delta!.protected).to.deep.equal(['i-d1']);
    });

    it('lists discovered groups once, with the discovery call itself', async () => {
      const result = await handlerWith()({});
      expect(east.discoveryCalls).to.equal(1);
      expect(east.describeCalls).to.deep.equal([]);
      expect(byName(result).alpha!.outcome).to.equal('ok');
    });

    it('re-lists all groups in one batched call for each later scan, and sees changes made between scans', async () => {
      let now = 1_700_000_000_000;
      const handler = handlerWith(
        {
          tagDiscovery: false,
          scansPerInvocation: 2,
          targets: [
            { asgName: 'alpha', region: 'us-east-1', settings: {} },
            { asgName: 'delta', region: 'us-east-1', settings: {} },
          ],
        },
        {
          clock: () => now,
          sleep: async (ms) => {
            now += ms;
            // Between the scans delta's idle member leaves service.
            east.member('delta', 'i-d2').lifecycleState = 'Terminating';
          },
        },
      );
      const result = await handler({}, { getRemainingTimeInMillis: () => 75_000 });
      expect(result.scans).to.have.length(2);
      expect(east.describeCalls).to.deep.equal([
        ['alpha', 'delta'],
        ['alpha', 'delta'],
      ]);
      const second = Object.fromEntries(result.scans[1]!.groups.map((g) => [g.asgName, g]));
      expect(second.delta!.skipped.map((x) => x.instanceId)).to.deep.equal(['i-d2']);
    });

    it('falls back to describing each group when the batched re-listing fails', async () => {
      let now = 0;
      let scansDone = 0;
      const handler = handlerWith(
        { tagDiscovery: false, scansPerInvocation: 2 },
        {
          clock: () => now,
          sleep: async (ms) => {
            now += ms;
            scansDone++;
            // The batched re-list fails once; the group's own describe then works.
            const real = east.describeGroups.bind(east);
            let failed = false;
            east.describeGroups = async (names) => {
              if (!failed) {
                failed = true;
                throw new Error('throttled');
              }
              return real(names);
            };
          },
        },
      );
      const result = await handler(
        { asgName: 'delta' },
        { getRemainingTimeInMillis: () => 75_000 },
      );
      expect(scansDone).to.equal(1);
      expect(result.scans.map((r) => r.groups[0]!.outcome)).to.deep.equal(['ok', 'ok']);
      expect(log.lines.some((l) => l.message.startsWith('batched group listing failed'))).to.equal(
        true,
      );
    });
  });

  describe('instance addresses in a warm container', () => {
    const addressCallsOf = (fleet: FakeFleet) => fleet.addressCalls.map((c) => [...c].sort());

    it('describes no instance again on the next invocation (steady state: no EC2 call)', async () => {
      const handler = handlerWith();
      const first = await handler({});
      const calls = east.addressCalls.length;
      const second = await handler({});
      expect(calls).to.equal(1); // alpha's instances on the cold scan (beta has a bad tag)
      expect(east.addressCalls).to.have.length(1);
      expect(byName(second).alpha!.busy).to.deep.equal(byName(first).alpha!.busy);
      expect(byName(second).alpha!.idle).to.deep.equal({ 'i-a2': IP.alphaIdle });
    });

    it('describes an instance that joined the group once, and only it', async () => {
      const handler = handlerWith({ tagDiscovery: false });
      await handler({ asgName: 'delta' });
      east.groups.get('delta')!.members.push(inService('i-d3', IP.deltaIdle, false));
      await handler({ asgName: 'delta' });
      await handler({ asgName: 'delta' });
      expect(addressCallsOf(east)).to.deep.equal([['i-d1', 'i-d2'], ['i-d3']]);
    });

    it('forgets an instance that left the group: if it comes back it is described again', async () => {
      const handler = handlerWith({ tagDiscovery: false });
      await handler({ asgName: 'delta' });
      const members = east.groups.get('delta')!.members;
      const left = members.pop()!;
      await handler({ asgName: 'delta' });
      members.push(left);
      await handler({ asgName: 'delta' });
      expect(addressCallsOf(east)).to.deep.equal([['i-d1', 'i-d2'], ['i-d2']]);
    });

    it('keeps what it knows when a scan fails before it knows the members', async () => {
      const handler = handlerWith({ tagDiscovery: false });
      await handler({ asgName: 'delta' });
      east.groups.get('delta')!.members.push(inService('i-d3', IP.deltaIdle, false));
      east.failAddresses = new Error('throttled');
      const failed = await handler({ asgName: 'delta' });
      east.failAddresses = undefined;
      await handler({ asgName: 'delta' });
      expect(byName(failed).delta!.outcome).to.equal('failed');
      expect(addressCallsOf(east)).to.deep.equal([['i-d1', 'i-d2'], ['i-d3'], ['i-d3']]);
    });

    it("counts the listing read before the scan in the group's ScanDuration", async () => {
      let now = 0;
      const real = east.describeGroups.bind(east);
      east.describeGroups = async (names) => {
        now += 700; // the listing call takes 0.7 s
        return real(names);
      };
      east.privateAddresses = async function (ids) {
        now += 300;
        return FakeFleet.prototype.privateAddresses.call(this, ids);
      };
      const result = await handlerWith(
        { tagDiscovery: false },
        { clock: () => now },
      )({
        asgName: 'delta',
      });
      expect(byName(result).delta!.durationMs).to.equal(1000);
    });
  });

  it('records metrics for every group of every scan', async () => {
    const recorded: GroupReport[] = [];
    await handlerWith({}, { metrics: { record: (r) => recorded.push(r) } })({});
    expect(recorded.map((r) => r.asgName).sort()).to.deep.equal(['alpha', 'beta']);
  });

  it('runs THEMIS_SCANS_PER_INVOCATION scans spread over the minute, on an injected clock', async () => {
    let now = 1_700_000_000_000;
    const sleeps: number[] = [];
    const handler = handlerWith(
      { tagDiscovery: false, scansPerInvocation: 3 },
      {
        clock: () => now,
        sleep: async (ms) => {
          sleeps.push(ms);
          now += ms;
        },
      },
    );
    const deadline = now + 75_000;
    const result = await handler(
      { asgName: 'delta' },
      { getRemainingTimeInMillis: () => deadline - now },
    );
    expect(result.scans.map((s) => Date.parse(s.startedAt) - 1_700_000_000_000)).to.deep.equal([
      0, 20_000, 40_000,
    ]);
    expect(sleeps).to.deep.equal([20_000, 20_000]);
    expect(workers.byAddress.get(IP.deltaBusy)!.requests).to.have.length(3);
    // the first scan protected/unprotected; the later ones found nothing to change
    expect(east.protectionCalls).to.have.length(2);
    expect(result.scans[1]!.groups[0]!.planned).to.deep.equal({ protect: [], unprotect: [] });
  });

  describe('with sinon fake timers', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      // A group with nothing InService: no probes, so only the scan loop's own timers run.
      east.addGroup('parked', [
        { instanceId: 'i-p', lifecycleState: 'Standby', protectedFromScaleIn: false },
      ]);
      clock = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    });
    afterEach(() => clock.restore());

    it('waits between scans with real timers and stops before the deadline', async () => {
      const handler = handlerWith({ tagDiscovery: false, scansPerInvocation: 4 });
      const deadline = 40_000; // a 40 s function: scans at 0, 15, 30 s fit; 45 s does not
      const pending = handler(
        { asgName: 'parked' },
        {
          getRemainingTimeInMillis: () => deadline - Date.now(),
        },
      );
      await clock.tickAsync(60_000);
      const result = await pending;
      expect(result.scans.map((s) => Date.parse(s.startedAt))).to.deep.equal([0, 15_000, 30_000]);
      expect(log.lines.some((l) => /not started/.test(l.message))).to.equal(true);
    });
  });
});
