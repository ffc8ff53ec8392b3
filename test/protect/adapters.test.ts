/**
 * lib/protect through the real SDK adapters (AutoScalingAdapter, Ec2Addresses) with the SDK
 * clients mocked by aws-sdk-client-mock: what goes on the wire, and what never does.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
  type SetInstanceProtectionCommandInput,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { ConfigError } from '../../lib/errors.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { applyProtection } from '../../lib/protect/apply.js';
import { createProtectHandler } from '../../lib/protect/handler.js';
import { autoScalingError, sdkGroup } from '../helpers/auto-scaling.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `i-${String(i).padStart(17, '0')}`);

describe('protect through the SDK adapters (aws-sdk-client-mock)', () => {
  let asg: AwsClientStub<AutoScalingClient>;
  let ec2: AwsClientStub<EC2Client>;
  let asgClient: AutoScalingClient;
  let ec2Client: EC2Client;

  beforeEach(() => {
    asgClient = new AutoScalingClient({ region: 'us-east-1' });
    ec2Client = new EC2Client({ region: 'us-east-1' });
    asg = mockClient(asgClient);
    ec2 = mockClient(ec2Client);
  });
  afterEach(() => {
    asg.restore();
    ec2.restore();
  });

  const protectionInputs = (): SetInstanceProtectionCommandInput[] =>
    asg.commandCalls(SetInstanceProtectionCommand).map((c) => c.args[0].input);

  describe('apply', () => {
    it('sends 120 protections as three calls of 50, 50 and 20', async () => {
      asg.on(SetInstanceProtectionCommand).resolves({});
      const all = ids(120);
      const out = await applyProtection(
        'workers',
        { protect: all, unprotect: [] },
        new AutoScalingAdapter(asgClient),
        createRecordingLog(),
      );
      const inputs = protectionInputs();
      expect(inputs.map((i) => i.InstanceIds!.length)).to.deep.equal([50, 50, 20]);
      expect(inputs.every((i) => i.AutoScalingGroupName === 'workers')).to.equal(true);
      expect(inputs.every((i) => i.ProtectedFromScaleIn === true)).to.equal(true);
      expect(inputs.flatMap((i) => i.InstanceIds)).to.deep.equal(all);
      expect(out.protected).to.deep.equal(all);
    });

    it('falls back to one call per instance after a ValidationError and reports only the bad one', async () => {
      const all = ids(5);
      const bad = all[2]!;
      asg.on(SetInstanceProtectionCommand).callsFake((input: SetInstanceProtectionCommandInput) => {
        if (input.InstanceIds!.includes(bad)) {
          throw autoScalingError(
            'ValidationError',
            `The instance ${bad} is not in InService or EnteringStandby or Standby.`,
          );
        }
        return {};
      });
      const out = await applyProtection(
        'workers',
        { protect: [], unprotect: all },
        new AutoScalingAdapter(asgClient),
        createRecordingLog(),
      );
      expect(out.failed).to.have.length(1);
      expect(out.failed[0]).to.include({ instanceId: bad, action: 'unprotect' });
      expect(out.failed[0]!.reason).to.match(
        /ValidationError: The instance .* is not in InService/,
      );
      expect(out.unprotected).to.deep.equal(all.filter((i) => i !== bad));
      expect(protectionInputs().map((i) => i.InstanceIds!.length)).to.deep.equal([
        5, 1, 1, 1, 1, 1,
      ]);
      expect(protectionInputs().every((i) => i.ProtectedFromScaleIn === false)).to.equal(true);
    });
  });

  describe('handler', () => {
    let workers: WorkerSet;
    before(async () => {
      workers = await startWorkersOnOnePort([
        ['127.0.7.11', { kind: 'answer', body: 'BUSY' }],
        ['127.0.7.12', { kind: 'answer', body: 'IDLE' }],
      ]);
    });
    after(() => workers.close());
    beforeEach(() => {
      for (const w of workers.byAddress.values()) w.requests.length = 0;
    });

    function handler(tagDiscovery = false) {
      return createProtectHandler({
        config: {
          region: 'us-east-1',
          settings: { metricsPort: workers.port, timeoutMs: 500 },
          targets: [],
          tagDiscovery,
          scansPerInvocation: 1,
          probeConcurrency: 4,
        },
        portsFor: () => {
          const adapter = new AutoScalingAdapter(asgClient);
          return { groups: adapter, protection: adapter, addresses: new Ec2Addresses(ec2Client) };
        },
        prober: createHttpProber({ loopbackOnly: true }),
        log: createRecordingLog(),
      });
    }

    function workersGroup(
      tags: Record<string, string> = {},
      protectedNow = { busy: false, idle: true },
    ) {
      const g = sdkGroup('workers', {
        DesiredCapacity: 2,
        Instances: [
          {
            InstanceId: 'i-busy',
            AvailabilityZone: 'us-east-1a',
            LifecycleState: 'InService',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: protectedNow.busy,
          },
          {
            InstanceId: 'i-idle',
            AvailabilityZone: 'us-east-1a',
            LifecycleState: 'InService',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: protectedNow.idle,
          },
        ],
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      });
      asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [g] });
      ec2.on(DescribeInstancesCommand).resolves({
        Reservations: [
          {
            Instances: [
              { InstanceId: 'i-busy', PrivateIpAddress: '127.0.7.11', State: { Name: 'running' } },
              { InstanceId: 'i-idle', PrivateIpAddress: '127.0.7.12', State: { Name: 'running' } },
            ],
          },
        ],
      });
      asg.on(SetInstanceProtectionCommand).resolves({});
    }

    it('protects and unprotects over the SDK for the themis event', async () => {
      workersGroup();
      const result = await handler()({ asgName: 'workers', region: 'us-east-1' });
      expect(result.scans[0]!.groups[0]!.outcome).to.equal('ok');
      expect(protectionInputs()).to.deep.equal([
        { AutoScalingGroupName: 'workers', InstanceIds: ['i-busy'], ProtectedFromScaleIn: true },
        { AutoScalingGroupName: 'workers', InstanceIds: ['i-idle'], ProtectedFromScaleIn: false },
      ]);
    });

    it('makes no SetInstanceProtection call when every instance is already right', async () => {
      workersGroup({}, { busy: true, idle: false });
      const result = await handler()({ asgName: 'workers' });
      expect(result.scans[0]!.groups[0]!.planned).to.deep.equal({ protect: [], unprotect: [] });
      expect(workers.probedAddresses()).to.have.length(2);
      expect(asg.commandCalls(SetInstanceProtectionCommand)).to.have.length(0);
    });

    it('makes no SetInstanceProtection call in a dry run', async () => {
      workersGroup();
      const result = await handler()({ asgName: 'workers', dryRun: 'true' });
      expect(result.scans[0]!.groups[0]!.planned.protect).to.deep.equal(['i-busy']);
      expect(asg.commandCalls(SetInstanceProtectionCommand)).to.have.length(0);
    });

    const bad: Array<[string, unknown, string]> = [
      ['metricsPort', { asgName: 'workers', metricsPort: '99999' }, 'metricsPort'],
      [
        'targets[0].busyURL',
        { targets: [{ asgName: 'workers', busyURL: 'https://x' }, { asgName: 'other' }] },
        'targets[0].busyURL',
      ],
      ['idleValue', { asgName: 'workers', idleValue: '' }, 'idleValue'],
    ];
    for (const [what, event, field] of bad) {
      it(`makes no AWS call at all for an event with a bad ${what}`, async () => {
        workersGroup();
        let caught: unknown;
        try {
          await handler()(event);
        } catch (err) {
          caught = err;
        }
        expect(caught).to.be.instanceOf(ConfigError);
        expect((caught as ConfigError).field).to.equal(field);
        expect(asg.calls()).to.have.length(0);
        expect(ec2.calls()).to.have.length(0);
      });
    }

    it('leaves a group with a bad themis:* tag unprotected and unprobed', async () => {
      workersGroup({ 'themis:enabled': 'true', 'themis:busy-url': 'http://elsewhere/x' });
      const result = await handler(true)({});
      const [report] = result.scans[0]!.groups;
      expect(report).to.include({ outcome: 'config-error', field: 'themis:busy-url' });
      expect(asg.commandCalls(SetInstanceProtectionCommand)).to.have.length(0);
      expect(workers.probedAddresses()).to.deep.equal([]);
      const filters = asg
        .commandCalls(DescribeAutoScalingGroupsCommand)
        .map((c) => c.args[0].input.Filters);
      expect(filters).to.deep.include([{ Name: 'tag:themis:enabled', Values: ['true'] }]);
    });
  });
});
