import {
  AutoScalingClient,
  DescribeLifecycleHooksCommand,
  DescribeScalingActivitiesCommand,
  DescribeWarmPoolCommand,
  type DescribeScalingActivitiesCommandInput,
} from '@aws-sdk/client-auto-scaling';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingHolds } from '../../lib/aws/lifecycle-holds.js';
import { UpstreamError } from '../../lib/errors.js';
import { autoScalingError } from '../helpers/auto-scaling.js';

describe('aws/lifecycle-holds', () => {
  let asg: AwsClientStub<AutoScalingClient>;
  let holds: AutoScalingHolds;

  beforeEach(() => {
    asg = mockClient(AutoScalingClient);
    holds = new AutoScalingHolds(new AutoScalingClient({ region: 'us-east-1' }));
  });
  afterEach(() => asg.restore());

  it('lists every hook of the group, capping the global timeout at 100 heartbeats', async () => {
    asg.on(DescribeLifecycleHooksCommand, { AutoScalingGroupName: 'workers' }).resolves({
      LifecycleHooks: [
        {
          LifecycleHookName: 'drain',
          AutoScalingGroupName: 'workers',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 300,
          // moto reports 172800 whatever the heartbeat timeout; AWS documents min(48 h, 100 × HB).
          GlobalTimeout: 172_800,
          DefaultResult: 'CONTINUE',
        },
      ],
    });
    expect(await holds.listHooks('workers')).to.deep.equal([
      {
        hookName: 'drain',
        groupName: 'workers',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        globalTimeoutSeconds: 30_000,
        defaultResult: 'CONTINUE',
      },
    ]);
  });

  it('reads activities page by page, newest first, up to the count asked', async () => {
    const all = Array.from({ length: 250 }, (_, i) => ({
      ActivityId: `a${i}`,
      AutoScalingGroupName: 'workers',
      Cause: 'c',
      Description: `Terminating EC2 instance: i-${i}`,
      StatusCode: 'MidLifecycleAction' as const,
      StartTime: new Date(1_000_000 - i),
    }));
    asg
      .on(DescribeScalingActivitiesCommand)
      .callsFake(async (input: DescribeScalingActivitiesCommandInput) => {
        const start = Number(input.NextToken ?? 0);
        const end = start + (input.MaxRecords ?? 100);
        return {
          Activities: all.slice(start, end),
          ...(end < all.length ? { NextToken: String(end) } : {}),
        };
      });
    const read = await holds.recentActivities('workers', 150);
    expect(read).to.have.length(150);
    expect(read[0]).to.deep.equal({
      description: 'Terminating EC2 instance: i-0',
      statusCode: 'MidLifecycleAction',
      startTimeMs: 1_000_000,
    });
    expect(read.at(-1)!.description).to.equal('Terminating EC2 instance: i-149');
    // Two pages: 100, then the 50 still wanted — never a third.
    expect(
      asg.commandCalls(DescribeScalingActivitiesCommand).map((c) => c.args[0].input.MaxRecords),
    ).to.deep.equal([100, 50]);
  });

  it('maps warm-pool instances across pages', async () => {
    asg
      .on(DescribeWarmPoolCommand)
      .resolvesOnce({
        Instances: [
          {
            InstanceId: 'i-1',
            LifecycleState: 'Warmed:Terminating:Wait',
            AvailabilityZone: 'us-east-1a',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: false,
          },
        ],
        NextToken: 't',
      })
      .resolvesOnce({
        Instances: [
          {
            InstanceId: 'i-2',
            LifecycleState: 'Warmed:Stopped',
            AvailabilityZone: 'us-east-1b',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: true,
          },
        ],
      });
    expect(await holds.warmPoolInstances('workers')).to.deep.equal([
      {
        instanceId: 'i-1',
        availabilityZone: 'us-east-1a',
        lifecycleState: 'Warmed:Terminating:Wait',
        healthStatus: 'Healthy',
        protectedFromScaleIn: false,
      },
      {
        instanceId: 'i-2',
        availabilityZone: 'us-east-1b',
        lifecycleState: 'Warmed:Stopped',
        healthStatus: 'Healthy',
        protectedFromScaleIn: true,
      },
    ]);
    expect(asg.commandCalls(DescribeWarmPoolCommand)[1]!.args[0].input.NextToken).to.equal('t');
  });

  it('wraps a failure in an UpstreamError naming the call and the group', async () => {
    asg.on(DescribeWarmPoolCommand).rejects(autoScalingError('AccessDenied', 'no'));
    const err = await holds.warmPoolInstances('workers').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as Error).message).to.equal('DescribeWarmPool workers failed: AccessDenied: no');
  });

  it("passes the caller's abort signal to the SDK", async () => {
    asg.on(DescribeLifecycleHooksCommand).resolves({ LifecycleHooks: [] });
    const controller = new AbortController();
    await holds.listHooks('workers', { signal: controller.signal });
    const call = asg.commandCalls(DescribeLifecycleHooksCommand)[0]!;
    expect(((call.args as unknown[])[1] as { abortSignal?: AbortSignal }).abortSignal).to.equal(
      controller.signal,
    );
  });

  it('fails instead of paging for ever when the service repeats a token', async () => {
    asg.on(DescribeWarmPoolCommand).resolves({ Instances: [], NextToken: 'same' });
    const err = await holds.warmPoolInstances('workers').catch((e: unknown) => e);
    expect((err as Error).message).to.match(
      /^DescribeWarmPool workers failed: .*same NextToken twice/,
    );
    expect(asg.commandCalls(DescribeWarmPoolCommand)).to.have.length(2);
  });

  it('makes no call under a signal that has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline passed'));
    const err = await holds
      .recentActivities('workers', 100, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect((err as Error).message).to.equal(
      'DescribeScalingActivities workers failed: Error: deadline passed',
    );
    expect(asg.commandCalls(DescribeScalingActivitiesCommand)).to.have.length(0);
  });
});
