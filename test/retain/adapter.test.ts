/**
 * The Auto Scaling adapter's part in retention, against aws-sdk-client-mock: the group's
 * instance lifecycle policy read from DescribeAutoScalingGroups, and the termination of a
 * retained instance (the command input is what is checked).
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { isValidationError, UpstreamError } from '../../lib/errors.js';
import { autoScalingError, sdkGroup } from '../helpers/auto-scaling.js';

describe('retain: aws/auto-scaling', () => {
  let asg: AwsClientStub<AutoScalingClient>;
  let adapter: AutoScalingAdapter;

  beforeEach(() => {
    asg = mockClient(AutoScalingClient);
    adapter = new AutoScalingAdapter(new AutoScalingClient({ region: 'us-east-1' }));
  });
  afterEach(() => {
    asg.restore();
  });

  it('reads TerminateHookAbandon = retain as a group that retains abandoned instances', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        sdkGroup('keeps', {
          InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'retain' } },
          Instances: [
            {
              InstanceId: 'i-0000000000000000a',
              AvailabilityZone: 'us-east-1a',
              LifecycleState: 'Terminating:Retained',
              HealthStatus: 'Healthy',
              LaunchConfigurationName: 'lc',
              ProtectedFromScaleIn: false,
            },
          ],
        }),
        sdkGroup('terminates', {
          InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'terminate' } },
        }),
        sdkGroup('no-policy'),
        sdkGroup('empty-policy', { InstanceLifecyclePolicy: {} }),
      ],
    });
    const groups = await adapter.describeGroups([
      'keeps',
      'terminates',
      'no-policy',
      'empty-policy',
    ]);
    expect(groups.map((g) => [g.name, g.retainsOnAbandon ?? false])).to.deep.equal([
      ['keeps', true],
      ['terminates', false],
      ['no-policy', false],
      ['empty-policy', false],
    ]);
    expect(groups[0]!.instances[0]!.lifecycleState).to.equal('Terminating:Retained');
  });

  it('terminates a retained instance without decrementing the desired capacity', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
    await adapter.terminateRetained('i-0000000000000000a');
    const calls = asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand);
    expect(calls.map((c) => c.args[0].input)).to.deep.equal([
      { InstanceId: 'i-0000000000000000a', ShouldDecrementDesiredCapacity: false },
    ]);
  });

  it('wraps a refusal so the ValidationError name is still readable', async () => {
    asg
      .on(TerminateInstanceInAutoScalingGroupCommand)
      .rejects(autoScalingError('ValidationError', 'Instance Id not found'));
    const err = await adapter.terminateRetained('i-0000000000000000a').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as Error).message).to.contain(
      'TerminateInstanceInAutoScalingGroup i-0000000000000000a',
    );
    expect(isValidationError(err)).to.equal(true);
  });

  it('passes the caller signal to the SDK, so a deadline stops the call', async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).callsFake(() => new Promise(() => {}));
    const controller = new AbortController();
    const call = adapter.terminateRetained('i-0000000000000000a', { signal: controller.signal });
    controller.abort(new Error('deadline'));
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UpstreamError);
  });
});
