import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingCapacity } from '../../lib/aws/group-capacity.js';
import { SqsQueueDepth } from '../../lib/aws/queue-depth.js';
import { UpstreamError } from '../../lib/errors.js';

describe('aws/group-capacity and aws/queue-depth', () => {
  let asg: AwsClientStub<AutoScalingClient>;
  let sqs: AwsClientStub<SQSClient>;
  let capacity: AutoScalingCapacity;
  let depth: SqsQueueDepth;
  const signal = new AbortController().signal;

  beforeEach(() => {
    asg = mockClient(AutoScalingClient);
    sqs = mockClient(SQSClient);
    capacity = new AutoScalingCapacity(new AutoScalingClient({ region: 'us-east-1' }));
    depth = new SqsQueueDepth(new SQSClient({ region: 'us-east-1' }));
  });
  afterEach(() => {
    asg.restore();
    sqs.restore();
  });

  const optionsOf = (call: { args: unknown[] }) => call.args[1] as { abortSignal?: AbortSignal };

  it('reads a group’s limits and members', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'jobs',
          MinSize: 1,
          MaxSize: 4,
          DesiredCapacity: 2,
          Instances: [
            {
              InstanceId: 'i-1',
              LifecycleState: 'InService',
              ProtectedFromScaleIn: true,
              AvailabilityZone: 'a',
              HealthStatus: 'Healthy',
              LaunchConfigurationName: 'x',
            },
          ],
        } as never,
      ],
    });

    const info = await capacity.describeCapacity('jobs', { signal });

    expect(info).to.deep.equal({
      name: 'jobs',
      minSize: 1,
      maxSize: 4,
      desiredCapacity: 2,
      instances: [
        {
          instanceId: 'i-1',
          lifecycleState: 'InService',
          protectedFromScaleIn: true,
          availabilityZone: 'a',
          healthStatus: 'Healthy',
        },
      ],
    });
    expect(optionsOf(asg.call(0)).abortSignal).to.equal(signal);
  });

  it('answers undefined for a group that does not exist', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });

    expect(await capacity.describeCapacity('nope')).to.equal(undefined);
  });

  it('sets the desired capacity without honouring the cooldown', async () => {
    asg.on(SetDesiredCapacityCommand).resolves({});

    await capacity.setDesiredCapacity('jobs', 3, { signal });

    expect(asg.commandCalls(SetDesiredCapacityCommand)[0]!.args[0].input).to.deep.equal({
      AutoScalingGroupName: 'jobs',
      DesiredCapacity: 3,
      HonorCooldown: false,
    });
    expect(optionsOf(asg.call(0)).abortSignal).to.equal(signal);
  });

  it('terminates with a decrement of the desired capacity', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});

    await capacity.terminateInstance('i-1', { signal });

    expect(
      asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand)[0]!.args[0].input,
    ).to.deep.equal({
      InstanceId: 'i-1',
      ShouldDecrementDesiredCapacity: true,
    });
    expect(optionsOf(asg.call(0)).abortSignal).to.equal(signal);
  });

  it('wraps failures in UpstreamError naming the call', async () => {
    asg
      .on(TerminateInstanceInAutoScalingGroupCommand)
      .rejects(new Error('ScalingActivityInProgress'));

    const err = await capacity.terminateInstance('i-1').catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect(String(err)).to.include('TerminateInstanceInAutoScalingGroup i-1 failed');
  });

  it('reads a queue’s ApproximateNumberOfMessages, and refuses a non-count', async () => {
    sqs
      .on(GetQueueAttributesCommand)
      .resolvesOnce({ Attributes: { ApproximateNumberOfMessages: '17' } })
      .resolves({ Attributes: {} });

    expect(await depth.approximateMessages('https://q/1', { signal })).to.equal(17);
    expect(optionsOf(sqs.call(0)).abortSignal).to.equal(signal);
    expect(
      String(await depth.approximateMessages('https://q/1').catch((e: unknown) => e)),
    ).to.match(/not a message count/);
  });
});
