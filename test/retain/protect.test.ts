/**
 * The retained-instance step of a protect scan (lib/protect/retained.ts) through scanTarget:
 * fake Auto Scaling ports (test/protect/fakes.ts), real loopback workers for every probe.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { mergeSettings, type Target } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { createRecordingLog } from '../../lib/log.js';
import { parseProtectConfig } from '../../lib/protect/config.js';
import type { Notice, RetainedInstances } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { scanTarget, type ScanDeps } from '../../lib/protect/scan.js';
import { DEADLINE_SAFETY_MS } from '../../lib/protect/schedule.js';
import { retainedOutcomeId } from '../../lib/retain/notice.js';
import { awsError, FakeFleet, type FakeMember } from '../protect/fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

const A = {
  idle: '127.0.31.11',
  busy: '127.0.31.12',
  garbage: '127.0.31.13',
  hang: '127.0.31.14',
  serving: '127.0.31.15',
  warm: '127.0.31.16',
  turnsBusy: '127.0.31.17',
};

function member(
  instanceId: string,
  address: string | undefined,
  lifecycleState: string,
): FakeMember {
  return { instanceId, address, lifecycleState, protectedFromScaleIn: false };
}

class FakeRetained implements RetainedInstances {
  readonly terminated: string[] = [];
  fail?: Error;
  async terminateRetained(instanceId: string): Promise<void> {
    if (this.fail) throw this.fail;
    this.terminated.push(instanceId);
  }
}

describe('retain: retained instances on a protect scan', () => {
  let workers: WorkerSet;
  let fleet: FakeFleet;
  let retained: FakeRetained;
  let published: Notice[];
  let log: ReturnType<typeof createRecordingLog>;
  let deps: ScanDeps;
  let turnsBusyAnswers = 0;

  before(async () => {
    workers = await startWorkersOnOnePort([
      [A.idle, { kind: 'answer', body: 'IDLE' }],
      [A.busy, { kind: 'answer', body: 'BUSY' }],
      [A.garbage, { kind: 'answer', body: 'maybe' }],
      [A.hang, { kind: 'hang' }],
      [A.serving, { kind: 'answer', body: 'IDLE' }],
      [A.warm, { kind: 'answer', body: 'IDLE' }],
      [
        A.turnsBusy,
        {
          kind: 'handler',
          // IDLE to the first probe, BUSY from then on: a worker that picks up a job meanwhile.
          handle: (_req, res) => {
            turnsBusyAnswers++;
            res.end(turnsBusyAnswers === 1 ? 'IDLE' : 'BUSY');
          },
        },
      ],
    ]);
  });
  after(async () => {
    await workers.close();
  });

  beforeEach(() => {
    for (const w of workers.byAddress.values()) w.requests.length = 0;
    fleet = new FakeFleet().addGroup('workers', [
      member('i-retained-idle', A.idle, 'Terminating:Retained'),
      member('i-retained-busy', A.busy, 'Terminating:Retained'),
      member('i-retained-garbage', A.garbage, 'Terminating:Retained'),
      member('i-retained-hang', A.hang, 'Terminating:Retained'),
      member('i-retained-no-ip', undefined, 'Terminating:Retained'),
      member('i-serving', A.serving, 'InService'),
      member('i-warm', A.warm, 'Warmed:Pending:Retained'),
    ]);
    retained = new FakeRetained();
    published = [];
    log = createRecordingLog();
    deps = {
      groups: fleet,
      addresses: fleet,
      protection: fleet,
      retained,
      notifications: {
        publish: async (notice) => {
          published.push(notice);
        },
      },
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

  const actions = (report: Awaited<ReturnType<typeof scanTarget>>) =>
    Object.fromEntries((report.retained ?? []).map((r) => [r.instanceId, r.action]));

  it('terminates only the retained instance that answers idle, and tells operators once', async () => {
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('ok');
    expect(retained.terminated).to.deep.equal(['i-retained-idle']);
    expect(actions(report)).to.deep.equal({
      'i-retained-idle': 'terminated',
      'i-retained-busy': 'kept',
      'i-retained-garbage': 'kept',
      'i-retained-hang': 'kept',
      'i-retained-no-ip': 'kept',
      'i-warm': 'kept',
    });
    expect(published).to.have.length(1);
    const notice = published[0]!;
    expect(notice.attributes).to.deep.equal({
      event: 'retained-released',
      group: 'workers',
      'outcome-id': retainedOutcomeId('workers', 'i-retained-idle'),
    });
    expect(notice.subject).to.equal('themis: released retained i-retained-idle in workers (idle)');
    expect(notice.message).to.contain('ShouldDecrementDesiredCapacity=false');
  });

  it('never terminates a retained instance on an unknown answer or without an answer', async () => {
    const report = await scanTarget(target(), deps);
    const byId = new Map((report.retained ?? []).map((r) => [r.instanceId, r]));
    expect(byId.get('i-retained-garbage')!.status).to.equal('unknown');
    expect(byId.get('i-retained-hang')!.reason).to.match(/never terminated on an unknown answer/);
    expect(byId.get('i-retained-no-ip')!.reason).to.match(/not asked/);
    expect(retained.terminated).to.not.include.members([
      'i-retained-garbage',
      'i-retained-hang',
      'i-retained-no-ip',
      'i-retained-busy',
    ]);
  });

  it('asks a retained instance again right before terminating it: one busy by then is kept', async () => {
    // Broken variant caught: acting on the scan's first answer (terminated an instance that
    // answered BUSY to the later probe).
    turnsBusyAnswers = 0;
    fleet = new FakeFleet().addGroup('workers', [
      member('i-retained-idle', A.idle, 'Terminating:Retained'),
      member('i-turns-busy', A.turnsBusy, 'Terminating:Retained'),
    ]);
    deps = { ...deps, groups: fleet, addresses: fleet, protection: fleet };
    const report = await scanTarget(target(), deps);
    expect(retained.terminated).to.deep.equal(['i-retained-idle']);
    expect(actions(report)['i-turns-busy']).to.equal('kept');
    expect(turnsBusyAnswers).to.equal(2);
  });

  it('makes the protection changes before the retained step, which cannot hold them up', async () => {
    // Broken variant caught: the retained step before applyProtection (no protection call
    // had been made when the slow terminate started).
    fleet = new FakeFleet().addGroup('workers', [
      member('i-retained-idle', A.idle, 'Terminating:Retained'),
      member('i-busy', A.busy, 'InService'),
    ]);
    let protectionCallsAtTerminate: number | undefined;
    const slow: RetainedInstances = {
      terminateRetained: () => {
        protectionCallsAtTerminate = fleet.protectionCalls.length;
        return new Promise<void>((r) => setTimeout(r, 500));
      },
    };
    deps = { ...deps, groups: fleet, addresses: fleet, protection: fleet, retained: slow };
    const scan = scanTarget(target(), deps);
    while (protectionCallsAtTerminate === undefined) await new Promise((r) => setTimeout(r, 20));
    expect(protectionCallsAtTerminate).to.equal(1);
    expect(fleet.protectionCalls[0]).to.deep.include({ instanceIds: ['i-busy'], protect: true });
    expect((await scan).protected).to.deep.equal(['i-busy']);
  });

  it("terminates no retained instance when the invocation's time left cannot hold it", async () => {
    // Broken variant caught: the step not bounded by remainingMs (terminated i-retained-idle).
    const report = await scanTarget(target(), { ...deps, remainingMs: () => 5_000 });
    expect(retained.terminated).to.deep.equal([]);
    const r = report.retained!.find((x) => x.instanceId === 'i-retained-idle')!;
    expect(r.action).to.equal('kept');
    expect(r.reason).to.match(/time left/);
  });

  describe("the step's first calls are bound by the invocation's deadline", () => {
    // The probe's own timeout (8 s) is far longer than the time the invocation leaves the
    // step (DEADLINE_SAFETY_MS + 600 ms): only the step's deadline can end it sooner.
    const slowProbe = { timeoutMs: 8_000 };
    const leftMs = DEADLINE_SAFETY_MS + 600;

    it('stops at its deadline when a retained instance never answers the probe, and keeps it', async () => {
      // Broken variant caught: the first probe batch outside the deadline (the scan took the
      // probe's 8 s timeout, and the reason was the probe's, not the time left).
      fleet = new FakeFleet().addGroup('workers', [
        member('i-retained-hang', A.hang, 'Terminating:Retained'),
        member('i-retained-idle', A.idle, 'Terminating:Retained'),
      ]);
      deps = { ...deps, groups: fleet, addresses: fleet, protection: fleet };
      const started = Date.now();
      const report = await scanTarget(target(slowProbe), { ...deps, remainingMs: () => leftMs });
      const tookMs = Date.now() - started;
      expect(tookMs).to.be.below(slowProbe.timeoutMs / 2);
      expect(retained.terminated).to.deep.equal([]);
      expect(published).to.deep.equal([]);
      const hang = report.retained!.find((r) => r.instanceId === 'i-retained-hang')!;
      expect(hang.action).to.equal('kept');
      expect(hang.reason).to.match(/^not asked: the invocation's time ran out before an answer/);
      expect(report.retained!.map((r) => r.action)).to.deep.equal(['kept', 'kept']);
      expect(workers.byAddress.get(A.hang)!.requests).to.have.length(1);
    });

    it('stops at its deadline when DescribeInstances never answers (client-mock), and keeps every retained instance', async () => {
      // Broken variant caught: the address lookup outside the deadline (the scan never
      // settled: mocha's 30 s timeout).
      const ec2 = mockClient(EC2Client);
      try {
        let asked = 0;
        ec2.on(DescribeInstancesCommand).callsFake(() => {
          asked++;
          return new Promise(() => {});
        });
        fleet = new FakeFleet().addGroup('workers', [
          member('i-retained-idle', A.idle, 'Terminating:Retained'),
        ]);
        const addresses = new Ec2Addresses(new EC2Client({ region: 'us-east-1' }));
        deps = { ...deps, groups: fleet, addresses, protection: fleet };
        const started = Date.now();
        const report = await scanTarget(target(), { ...deps, remainingMs: () => leftMs });
        expect(Date.now() - started).to.be.below(5_000);
        expect(asked).to.equal(1);
        expect(retained.terminated).to.deep.equal([]);
        const idle = report.retained!.find((r) => r.instanceId === 'i-retained-idle')!;
        expect(idle.action).to.equal('kept');
        expect(idle.reason).to.match(/^not asked: addresses unreadable \(DescribeInstances/);
        expect(workers.byAddress.get(A.idle)!.requests).to.deep.equal([]);
      } finally {
        ec2.restore();
      }
    });
  });

  it('does not probe warm pool retained instances (the API cannot terminate them)', async () => {
    await scanTarget(target(), deps);
    expect(workers.byAddress.get(A.warm)!.requests).to.deep.equal([]);
  });

  it('never terminates an InService instance, idle or not (protection is its only change)', async () => {
    await scanTarget(target(), deps);
    expect(retained.terminated).to.not.include('i-serving');
  });

  it('in a dry run only reports what it would do: no call, no notice', async () => {
    const report = await scanTarget(target({ dryRun: true }), deps);
    expect(actions(report)['i-retained-idle']).to.equal('would-terminate');
    expect(retained.terminated).to.deep.equal([]);
    expect(published).to.deep.equal([]);
  });

  it('keeps the instance and reports the failure when Auto Scaling refuses; the scan still succeeds', async () => {
    retained.fail = awsError(
      'ValidationError',
      'Instance Id not found',
      'TerminateInstanceInAutoScalingGroup',
    );
    const report = await scanTarget(target(), deps);
    expect(report.outcome).to.equal('ok');
    const r = report.retained!.find((x) => x.instanceId === 'i-retained-idle')!;
    expect(r.action).to.equal('failed');
    expect(r.reason).to.match(/tried again on the next scan/);
    expect(published).to.deep.equal([]);
    expect(
      log.lines.some(
        (l) => l.level === 'error' && l.message === 'retained instance not terminated',
      ),
    ).to.equal(true);
  });

  it('costs no extra call for a group without retained members', async () => {
    fleet = new FakeFleet().addGroup('workers', [member('i-serving', A.serving, 'InService')]);
    deps = { ...deps, groups: fleet, addresses: fleet, protection: fleet };
    const report = await scanTarget(target(), deps);
    expect(report.retained).to.equal(undefined);
    expect(fleet.addressCalls).to.deep.equal([['i-serving']]);
  });

  it('reads the outcome topic from THEMIS_TOPIC_ARN, naming the variable for a bad value', () => {
    const topic = 'arn:aws:sns:us-east-1:123456789012:themis-outcomes';
    expect(
      parseProtectConfig({ AWS_REGION: 'us-east-1', THEMIS_TOPIC_ARN: topic }).topicArn,
    ).to.equal(topic);
    expect(parseProtectConfig({ AWS_REGION: 'us-east-1' }).topicArn).to.equal(undefined);
    expect(() => parseProtectConfig({ AWS_REGION: 'us-east-1', THEMIS_TOPIC_ARN: 'my-topic' }))
      .to.throw(ConfigError)
      .with.property('field', 'THEMIS_TOPIC_ARN');
  });

  it("reads the gate's recheck queue from THEMIS_RECHECK_QUEUE_URL, naming the variable for a bad value", () => {
    const queue = 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-recheck';
    expect(
      parseProtectConfig({ AWS_REGION: 'us-east-1', THEMIS_RECHECK_QUEUE_URL: queue })
        .recheckQueueUrl,
    ).to.equal(queue);
    expect(parseProtectConfig({ AWS_REGION: 'us-east-1' }).recheckQueueUrl).to.equal(undefined);
    expect(() =>
      parseProtectConfig({ AWS_REGION: 'us-east-1', THEMIS_RECHECK_QUEUE_URL: 'themis-recheck' }),
    )
      .to.throw(ConfigError)
      .with.property('field', 'THEMIS_RECHECK_QUEUE_URL');
  });
});
