/**
 * A retained instance whose TerminateInstanceInAutoScalingGroup Auto Scaling carried out but
 * whose answer was lost (a connection reset, then the SDK's retry refused because the instance
 * is Terminating by now), or late beyond RETAINED_CALL_MS. The next scan never sees it again
 * (it has left Terminating:Retained), so the step reads its state back and tells the
 * termination now, or that its outcome is unknown — never silence. From the review's failing
 * test (retained-lost-notice); the real Auto Scaling adapter over aws-sdk-client-mock, real
 * loopback workers for the probes.
 *
 * Broken variants caught: the code before the fix (a failed call reported 'failed … tried
 * again on the next scan', no read-back, no notice) fails every test but 'still retained';
 * the read-back without the deadline (groups.describeGroups awaited bare) never ends in the
 * hanging-read test; an unreadable state reported 'failed' without a notice fails
 * 'outcome unknown'.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { mergeSettings, type Target } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import type { GroupInstance, Notice } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { handleRetained, RETAINED_CALL_MS, type RetainedDeps } from '../../lib/protect/retained.js';
import { retainedOutcomeId } from '../../lib/retain/notice.js';
import { Deadline } from '../../lib/time.js';
import { autoScalingError, sdkGroup } from '../helpers/auto-scaling.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

const ADDRESS = '127.0.31.51';
const ID = 'i-0123456789abcdef0';
const GROUP = 'workers';
const TIMEOUT_MS = 300;

/** Auto Scaling's refusal of the SDK's retry once the first attempt was carried out. */
const refusedRetry = () =>
  autoScalingError(
    'ValidationError',
    `The instance ${ID} is not in correct state to be terminated. Current state: Terminating`,
  );

function listing(state: string | undefined) {
  return {
    AutoScalingGroups: [
      sdkGroup(GROUP, {
        Instances: state
          ? [
              {
                InstanceId: ID,
                AvailabilityZone: 'us-east-1a',
                LifecycleState: state as never,
                HealthStatus: 'Healthy',
                ProtectedFromScaleIn: false,
              },
            ]
          : [],
      }),
    ],
  };
}

describe('retain: a retained termination whose answer is lost', function () {
  this.timeout(30_000);
  let workers: WorkerSet;
  let asg: AwsClientStub<AutoScalingClient>;
  let published: Notice[];
  let deps: RetainedDeps & { log: ReturnType<typeof createRecordingLog> };
  let target: Target;
  const retained = (state = 'Terminating:Retained'): GroupInstance[] => [
    { instanceId: ID, lifecycleState: state, protectedFromScaleIn: false },
  ];

  before(async () => {
    workers = await startWorkersOnOnePort([[ADDRESS, { kind: 'answer', body: 'IDLE' }]]);
  });
  after(() => workers.close());
  beforeEach(() => {
    asg = mockClient(AutoScalingClient);
    const adapter = new AutoScalingAdapter(new AutoScalingClient({ region: 'us-east-1' }));
    published = [];
    target = {
      asgName: GROUP,
      region: 'us-east-1',
      ...mergeSettings({ metricsPort: workers.port, timeoutMs: TIMEOUT_MS }),
    };
    deps = {
      addresses: { privateAddresses: async (ids) => new Map(ids.map((id) => [id, ADDRESS])) },
      prober: createHttpProber({ loopbackOnly: true }),
      retained: adapter,
      groups: adapter,
      notifications: { publish: async (n) => void published.push(n) },
      log: createRecordingLog(),
      clock: Date.now,
      deadline: Deadline.after(60_000),
    };
  });
  afterEach(() => asg.restore());

  it('tells the termination when the retry is refused because Auto Scaling already carried it out', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).rejects(refusedRetry());
    asg.on(DescribeAutoScalingGroupsCommand).resolves(listing('Terminating'));
    const [report] = await handleRetained(target, retained(), deps);
    expect(report).to.include({ action: 'terminated', notice: 'published' });
    expect(report!.reason).to.match(/lists it as Terminating now/);
    expect(published).to.have.length(1);
    expect(published[0]!.attributes).to.deep.equal({
      event: 'retained-released',
      group: GROUP,
      'outcome-id': retainedOutcomeId(GROUP, ID),
    });
    // The read-back asked for this group, under the step's signal.
    const reads = asg.commandCalls(DescribeAutoScalingGroupsCommand);
    expect(reads.map((c) => c.args[0].input.AutoScalingGroupNames)).to.deep.equal([[GROUP]]);
  });

  it('tells the termination when the group no longer lists the instance', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).rejects(refusedRetry());
    asg.on(DescribeAutoScalingGroupsCommand).resolves(listing(undefined));
    const [report] = await handleRetained(target, retained(), deps);
    expect(report).to.include({ action: 'terminated', notice: 'published' });
    expect(report!.reason).to.match(/no longer lists it/);
    expect(published.map((n) => n.attributes.event)).to.deep.equal(['retained-released']);
  });

  it('keeps an instance still Terminating:Retained after a failed call, for the next scan, without a notice', async () => {
    asg
      .on(TerminateInstanceInAutoScalingGroupCommand)
      .rejects(autoScalingError('Throttling', 'Rate exceeded'));
    asg.on(DescribeAutoScalingGroupsCommand).resolves(listing('Terminating:Retained'));
    const [report] = await handleRetained(target, retained(), deps);
    expect(report!.action).to.equal('failed');
    expect(report!.reason).to.match(/tried again on the next scan/);
    expect(report!.notice).to.equal(undefined);
    expect(published).to.deep.equal([]);
  });

  it('tells that the outcome is unknown when the state cannot be read back', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).rejects(refusedRetry());
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .rejects(autoScalingError('Throttling', 'Rate exceeded'));
    const [report] = await handleRetained(target, retained(), deps);
    expect(report).to.include({ action: 'unknown', notice: 'published' });
    expect(published).to.have.length(1);
    const notice = published[0]!;
    expect(notice.subject).to.equal(
      `themis: may have released retained ${ID} in ${GROUP} (outcome unknown)`,
    );
    expect(notice.message).to.contain('The outcome is UNKNOWN');
    expect(notice.message).to.contain('Rate exceeded');
    // Not mistaken for a duplicate of the released notice a later scan may still send.
    expect(notice.attributes['outcome-id']).to.equal(retainedOutcomeId(GROUP, ID, 'unknown'));
    expect(notice.attributes['outcome-id']).to.not.equal(retainedOutcomeId(GROUP, ID));
  });

  it('tells the termination whose answer never comes, and the next scan has nothing left to try (the review case)', async () => {
    // Auto Scaling applies it at once; its answer is lost and the call hangs past RETAINED_CALL_MS.
    let state = 'Terminating:Retained';
    asg.on(TerminateInstanceInAutoScalingGroupCommand).callsFake(() => {
      state = 'Terminating';
      return new Promise<never>(() => undefined);
    });
    asg.on(DescribeAutoScalingGroupsCommand).callsFake(async () => listing(state));
    const started = Date.now();
    const first = await handleRetained(target, retained(state), deps);
    expect(Date.now() - started).to.be.within(RETAINED_CALL_MS, RETAINED_CALL_MS + 5_000);
    expect(first[0]).to.include({ action: 'terminated', notice: 'published' });
    expect(first[0]!.reason).to.match(/no answer within/);
    const second = await handleRetained(target, retained(state), deps); // the next scan
    expect(second).to.deep.equal([]);
    expect(published.map((n) => n.attributes.event)).to.deep.equal(['retained-released']);
  });

  it('keeps the read-back and the notice inside the step deadline when both calls hang', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).rejects(refusedRetry());
    asg.on(DescribeAutoScalingGroupsCommand).callsFake(() => new Promise<never>(() => undefined));
    // Just room for the probe and the terminate call (fits): the read-back gets half of what
    // is left, the notice the rest.
    const budget = TIMEOUT_MS + RETAINED_CALL_MS + 500;
    deps.deadline = Deadline.after(budget);
    const started = Date.now();
    const [report] = await handleRetained(target, retained(), deps);
    expect(Date.now() - started).to.be.at.most(budget + 200);
    expect(report).to.include({ action: 'unknown', notice: 'published' });
    expect(report!.reason).to.match(/DescribeAutoScalingGroups \(retained\): no answer within/);
  });
});
