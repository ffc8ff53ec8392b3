import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetInstanceProtectionCommand,
  type AutoScalingGroup,
  type DescribeAutoScalingGroupsCommandInput,
} from '@aws-sdk/client-auto-scaling';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter, globalTimeoutSeconds } from '../../lib/aws/auto-scaling.js';
import { awsErrorName, isValidationError, UpstreamError } from '../../lib/errors.js';
import type { LifecycleActionRef } from '../../lib/ports.js';
import { autoScalingError, sdkGroup } from '../helpers/auto-scaling.js';

/**
 * A stand-in for the API's paging: answers from `groups`, filtered like the real call
 * (names, or a tag filter), `pageSize` groups per page with an opaque NextToken.
 */
function pagedGroups(groups: AutoScalingGroup[], pageSize: number) {
  return (input: DescribeAutoScalingGroupsCommandInput) => {
    let matching = groups;
    if (input.AutoScalingGroupNames) {
      matching = matching.filter((g) =>
        input.AutoScalingGroupNames!.includes(g.AutoScalingGroupName!),
      );
    }
    for (const filter of input.Filters ?? []) {
      const key = filter.Name!.replace(/^tag:/, '');
      matching = matching.filter((g) =>
        (g.Tags ?? []).some((t) => t.Key === key && filter.Values!.includes(t.Value!)),
      );
    }
    const start = input.NextToken ? Number(input.NextToken.replace('page-', '')) : 0;
    const end = start + pageSize;
    return {
      AutoScalingGroups: matching.slice(start, end),
      ...(end < matching.length ? { NextToken: `page-${end}` } : {}),
    };
  };
}

describe('aws/auto-scaling', () => {
  let asg: AwsClientStub<AutoScalingClient>;
  let adapter: AutoScalingAdapter;

  beforeEach(() => {
    asg = mockClient(AutoScalingClient);
    adapter = new AutoScalingAdapter(new AutoScalingClient({ region: 'us-east-1' }));
  });
  afterEach(() => {
    asg.restore();
  });

  describe('describeGroups', () => {
    it('maps instances and tags into a snapshot', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          sdkGroup('Electric-Ziggurat', {
            Instances: [
              {
                InstanceId: 'i-1',
                AvailabilityZone: 'us-east-1a',
                LifecycleState: 'InService',
                HealthStatus: 'Healthy',
                ProtectedFromScaleIn: true,
              },
              {
                InstanceId: 'i-2',
                AvailabilityZone: 'us-east-1b',
                LifecycleState: 'Terminating:Wait',
                HealthStatus: 'Unhealthy',
                ProtectedFromScaleIn: false,
              },
            ],
            Tags: [
              { Key: 'themis:metricsPort', Value: '9100', ResourceId: 'Electric-Ziggurat' },
              { Key: 'team', Value: 'render' },
            ],
          }),
        ],
      });

      const [snapshot] = await adapter.describeGroups(['Electric-Ziggurat']);

      expect(snapshot).to.deep.equal({
        name: 'Electric-Ziggurat',
        arn: 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/Electric-Ziggurat',
        instances: [
          {
            instanceId: 'i-1',
            availabilityZone: 'us-east-1a',
            lifecycleState: 'InService',
            healthStatus: 'Healthy',
            protectedFromScaleIn: true,
          },
          {
            instanceId: 'i-2',
            availabilityZone: 'us-east-1b',
            lifecycleState: 'Terminating:Wait',
            healthStatus: 'Unhealthy',
            protectedFromScaleIn: false,
          },
        ],
        tags: { 'themis:metricsPort': '9100', team: 'render' },
      });
    });

    it('treats an instance without a protection flag as unprotected', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          sdkGroup('g', {
            Instances: [{ InstanceId: 'i-1', LifecycleState: 'InService' } as never],
          }),
        ],
      });
      const [snapshot] = await adapter.describeGroups(['g']);
      expect(snapshot!.instances[0]!.protectedFromScaleIn).to.equal(false);
    });

    it('follows NextToken until the last page', async () => {
      const names = ['a', 'b', 'c', 'd', 'e'];
      const answer = pagedGroups(
        names.map((n) => sdkGroup(n)),
        2,
      );
      // The paginator reuses one input object, so record the token at call time.
      const tokens: (string | undefined)[] = [];
      asg
        .on(DescribeAutoScalingGroupsCommand)
        .callsFake((input: DescribeAutoScalingGroupsCommandInput) => {
          tokens.push(input.NextToken);
          return answer(input);
        });

      const groups = await adapter.describeGroups(names);

      expect(groups.map((g) => g.name)).to.deep.equal(names);
      expect(tokens).to.deep.equal([undefined, 'page-2', 'page-4']);
    });

    it('sends at most 100 names per call and asks for 100 records per page', async () => {
      const names = Array.from({ length: 250 }, (_, i) => `group-${i}`);
      asg.on(DescribeAutoScalingGroupsCommand).callsFake(
        pagedGroups(
          names.map((n) => sdkGroup(n)),
          100,
        ),
      );

      const groups = await adapter.describeGroups(names);

      expect(groups).to.have.length(250);
      const inputs = asg.commandCalls(DescribeAutoScalingGroupsCommand).map((c) => c.args[0].input);
      expect(inputs.map((i) => i.AutoScalingGroupNames!.length)).to.deep.equal([100, 100, 50]);
      expect(inputs.every((i) => i.MaxRecords === 100)).to.equal(true);
      expect(inputs.flatMap((i) => i.AutoScalingGroupNames)).to.deep.equal(names);
    });

    it('leaves out groups that do not exist and asks for each name once', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).callsFake(pagedGroups([sdkGroup('real')], 50));

      const groups = await adapter.describeGroups(['real', 'gone', 'real']);

      expect(groups.map((g) => g.name)).to.deep.equal(['real']);
      const [call] = asg.commandCalls(DescribeAutoScalingGroupsCommand);
      expect(call!.args[0].input.AutoScalingGroupNames).to.deep.equal(['real', 'gone']);
    });

    it('makes no call for an empty list', async () => {
      expect(await adapter.describeGroups([])).to.deep.equal([]);
      expect(asg.calls()).to.have.length(0);
    });

    it('wraps a failure in UpstreamError and keeps the cause', async () => {
      const cause = autoScalingError('Throttling', 'Rate exceeded');
      asg.on(DescribeAutoScalingGroupsCommand).rejects(cause);

      const err = await adapter.describeGroups(['g']).catch((e: unknown) => e);

      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as UpstreamError).cause).to.equal(cause);
      expect(awsErrorName(err)).to.equal('Throttling');
      expect((err as Error).message).to.contain('DescribeAutoScalingGroups g');
    });
  });

  describe('findGroupsByTag', () => {
    it('filters on the tag on the API call and reads every page', async () => {
      const tagged = (n: string, value: string) =>
        sdkGroup(n, { Tags: [{ Key: 'themis', Value: value }] });
      asg
        .on(DescribeAutoScalingGroupsCommand)
        .callsFake(
          pagedGroups(
            [tagged('a', 'on'), tagged('b', 'off'), tagged('c', 'on'), tagged('d', 'on')],
            2,
          ),
        );

      const groups = await adapter.findGroupsByTag('themis', 'on');

      expect(groups.map((g) => g.name)).to.deep.equal(['a', 'c', 'd']);
      const inputs = asg.commandCalls(DescribeAutoScalingGroupsCommand).map((c) => c.args[0].input);
      expect(inputs).to.have.length(2);
      for (const input of inputs) {
        expect(input.Filters).to.deep.equal([{ Name: 'tag:themis', Values: ['on'] }]);
        expect(input.AutoScalingGroupNames).to.equal(undefined);
      }
    });
  });

  describe('setInstanceProtection', () => {
    it('sets protection on the given instances in one call', async () => {
      asg.on(SetInstanceProtectionCommand).resolves({});

      await adapter.setInstanceProtection('g', ['i-1', 'i-2'], true);
      await adapter.setInstanceProtection('g', ['i-3'], false);

      expect(
        asg.commandCalls(SetInstanceProtectionCommand).map((c) => c.args[0].input),
      ).to.deep.equal([
        { AutoScalingGroupName: 'g', InstanceIds: ['i-1', 'i-2'], ProtectedFromScaleIn: true },
        { AutoScalingGroupName: 'g', InstanceIds: ['i-3'], ProtectedFromScaleIn: false },
      ]);
    });

    it('refuses more than 50 instances without calling Auto Scaling', async () => {
      asg.on(SetInstanceProtectionCommand).resolves({});
      const ids = Array.from({ length: 51 }, (_, i) => `i-${i}`);

      const err = await adapter.setInstanceProtection('g', ids, true).catch((e: unknown) => e);

      expect(err).to.be.instanceOf(Error);
      expect((err as Error).message).to.match(/at most 50 .* got 51/);
      expect(asg.calls()).to.have.length(0);
    });

    it('accepts exactly 50 instances', async () => {
      asg.on(SetInstanceProtectionCommand).resolves({});
      await adapter.setInstanceProtection(
        'g',
        Array.from({ length: 50 }, (_, i) => `i-${i}`),
        true,
      );
      expect(asg.commandCalls(SetInstanceProtectionCommand)).to.have.length(1);
    });

    it('makes no call for no instances', async () => {
      await adapter.setInstanceProtection('g', [], true);
      expect(asg.calls()).to.have.length(0);
    });

    it('wraps a rejection so the ValidationError name is still readable', async () => {
      const cause = autoScalingError(
        'ValidationError',
        'The instance i-2 is not in InService or EnteringStandby or Standby.',
      );
      asg.on(SetInstanceProtectionCommand).rejects(cause);

      const err = await adapter
        .setInstanceProtection('g', ['i-1', 'i-2'], false)
        .catch((e: unknown) => e);

      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as UpstreamError).cause).to.equal(cause);
      expect(awsErrorName(err)).to.equal('ValidationError');
      expect(isValidationError(err)).to.equal(true);
      expect((err as Error).message).to.contain('SetInstanceProtection off g i-1,i-2');
    });
  });

  describe('lifecycle actions', () => {
    const withToken: LifecycleActionRef = {
      groupName: 'g',
      hookName: 'drain',
      instanceId: 'i-1',
      token: 'bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635',
    };
    const withoutToken: LifecycleActionRef = {
      groupName: 'g',
      hookName: 'drain',
      instanceId: 'i-1',
    };
    const noActiveAction = () =>
      autoScalingError('ValidationError', 'No active Lifecycle Action found with instance ID i-1');

    it('heartbeats with the token when there is one, and not the instance id', async () => {
      asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});

      expect(await adapter.recordHeartbeat(withToken)).to.equal('recorded');

      const [call] = asg.commandCalls(RecordLifecycleActionHeartbeatCommand);
      expect(call!.args[0].input).to.deep.equal({
        AutoScalingGroupName: 'g',
        LifecycleHookName: 'drain',
        LifecycleActionToken: withToken.token,
      });
    });

    it('heartbeats with the instance id when there is no token', async () => {
      asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});

      await adapter.recordHeartbeat(withoutToken);

      const [call] = asg.commandCalls(RecordLifecycleActionHeartbeatCommand);
      expect(call!.args[0].input).to.deep.equal({
        AutoScalingGroupName: 'g',
        LifecycleHookName: 'drain',
        InstanceId: 'i-1',
      });
    });

    it('completes with the result and the token', async () => {
      asg.on(CompleteLifecycleActionCommand).resolves({});

      expect(await adapter.complete(withToken, 'CONTINUE')).to.equal('completed');
      expect(await adapter.complete(withoutToken, 'ABANDON')).to.equal('completed');

      expect(
        asg.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input),
      ).to.deep.equal([
        {
          AutoScalingGroupName: 'g',
          LifecycleHookName: 'drain',
          LifecycleActionResult: 'CONTINUE',
          LifecycleActionToken: withToken.token,
        },
        {
          AutoScalingGroupName: 'g',
          LifecycleHookName: 'drain',
          LifecycleActionResult: 'ABANDON',
          InstanceId: 'i-1',
        },
      ]);
    });

    it('answers gone when Auto Scaling finds no active lifecycle action', async () => {
      asg.on(RecordLifecycleActionHeartbeatCommand).rejects(noActiveAction());
      asg.on(CompleteLifecycleActionCommand).rejects(noActiveAction());

      expect(await adapter.recordHeartbeat(withToken)).to.equal('gone');
      expect(await adapter.complete(withToken, 'CONTINUE')).to.equal('gone');
    });

    it('throws UpstreamError for any other failure, without the token in the message', async () => {
      const validation = autoScalingError(
        'ValidationError',
        'Unable to find hook drain for group g',
      );
      const throttled = autoScalingError('Throttling', 'Rate exceeded');
      asg.on(RecordLifecycleActionHeartbeatCommand).rejects(validation);
      asg.on(CompleteLifecycleActionCommand).rejects(throttled);

      const heartbeat = await adapter.recordHeartbeat(withToken).catch((e: unknown) => e);
      const complete = await adapter.complete(withToken, 'CONTINUE').catch((e: unknown) => e);

      expect(heartbeat).to.be.instanceOf(UpstreamError);
      expect((heartbeat as UpstreamError).cause).to.equal(validation);
      expect(awsErrorName(heartbeat)).to.equal('ValidationError');
      expect(complete).to.be.instanceOf(UpstreamError);
      expect((complete as UpstreamError).cause).to.equal(throttled);
      for (const err of [heartbeat, complete]) {
        expect((err as Error).message).to.contain('g/drain i-1');
        expect((err as Error).message).not.to.contain(withToken.token);
      }
    });
  });

  describe('describeHook', () => {
    it('maps the hook and caps the global timeout at 100 heartbeats', async () => {
      asg.on(DescribeLifecycleHooksCommand).resolves({
        LifecycleHooks: [
          {
            LifecycleHookName: 'drain',
            AutoScalingGroupName: 'g',
            LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
            HeartbeatTimeout: 300,
            // what moto reports for every hook
            GlobalTimeout: 172800,
            DefaultResult: 'CONTINUE',
            NotificationMetadata: '{"metricsPort":9100}',
          },
        ],
      });

      const hook = await adapter.describeHook('g', 'drain');

      expect(hook).to.deep.equal({
        hookName: 'drain',
        groupName: 'g',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        globalTimeoutSeconds: 30000,
        defaultResult: 'CONTINUE',
        notificationMetadata: '{"metricsPort":9100}',
      });
      const [call] = asg.commandCalls(DescribeLifecycleHooksCommand);
      expect(call!.args[0].input).to.deep.equal({
        AutoScalingGroupName: 'g',
        LifecycleHookNames: ['drain'],
      });
    });

    it('defaults to ABANDON and a one-hour heartbeat when the hook reports neither', async () => {
      asg.on(DescribeLifecycleHooksCommand).resolves({
        LifecycleHooks: [{ LifecycleHookName: 'drain', AutoScalingGroupName: 'g' }],
      });

      const hook = await adapter.describeHook('g', 'drain');

      expect(hook).to.include({
        defaultResult: 'ABANDON',
        heartbeatTimeoutSeconds: 3600,
        globalTimeoutSeconds: 172800,
      });
      expect(hook).not.to.have.property('notificationMetadata');
    });

    it('is undefined when the hook does not exist', async () => {
      asg.on(DescribeLifecycleHooksCommand).resolves({ LifecycleHooks: [] });
      expect(await adapter.describeHook('g', 'drain')).to.equal(undefined);
    });

    it('is undefined when the group is gone', async () => {
      asg
        .on(DescribeLifecycleHooksCommand)
        .rejects(autoScalingError('ValidationError', 'Group g not found'));
      expect(await adapter.describeHook('g', 'drain')).to.equal(undefined);
    });

    it('throws UpstreamError for other failures', async () => {
      const cause = autoScalingError('Throttling', 'Rate exceeded');
      asg.on(DescribeLifecycleHooksCommand).rejects(cause);

      const err = await adapter.describeHook('g', 'drain').catch((e: unknown) => e);

      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as UpstreamError).cause).to.equal(cause);
    });
  });

  describe('globalTimeoutSeconds', () => {
    const cases: [string, number | undefined, number, number][] = [
      ['100 heartbeats when that is the smallest', 172800, 60, 6000],
      ['48 hours when 100 heartbeats are longer', undefined, 7200, 172800],
      ['the reported value when it is the smallest', 1000, 60, 1000],
      ['48 hours even if a larger value is reported', 999999, 7200, 172800],
      ['100 heartbeats with nothing reported', undefined, 30, 3000],
    ];
    for (const [behaviour, reported, heartbeat, expected] of cases) {
      it(`is ${behaviour}`, () => {
        expect(globalTimeoutSeconds(reported, heartbeat)).to.equal(expected);
      });
    }
  });
});
