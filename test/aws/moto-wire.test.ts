/**
 * The adapters over the wire against moto_server: real SDK serialisation, real HTTP, moto's
 * model of each API. Where moto does not implement an operation (lifecycle actions, SSM
 * instance information) the tests pin down what moto answers instead, so nobody mistakes
 * them for coverage; the fleet simulator covers those semantics.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  PutLifecycleHookCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand } from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { CreateDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../lib/aws/clients.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { SsmCommands } from '../../lib/aws/ssm.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import { createQueue } from '../gate/sqs-wire.js';
import {
  createLoopbackFleet,
  motoClients,
  startMoto,
  type Moto,
  type MotoClients,
  type MotoFleet,
} from '../helpers/moto.js';

const DRAIN_DOCUMENT = {
  schemaVersion: '2.2',
  description: 'themis test: drain before termination',
  parameters: { commands: { type: 'StringList', default: ['true'] } },
  mainSteps: [
    { action: 'aws:runShellScript', name: 'drain', inputs: { runCommand: '{{ commands }}' } },
  ],
};

/** Long-polls until `count` messages arrived or `maxPolls` polls (of ≤ 2 s each) came back. */
async function receive(
  sqs: SQSClient,
  queueUrl: string,
  count: number,
  maxPolls = 5,
): Promise<Message[]> {
  const messages: Message[] = [];
  for (let poll = 0; poll < maxPolls && messages.length < count; poll++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
        MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateFirstReceiveTimestamp'],
      }),
    );
    messages.push(...(out.Messages ?? []));
  }
  return messages;
}

describe('aws adapters over the wire (moto) @slow', function () {
  let moto: Moto;
  let clients: MotoClients;
  let fleet: MotoFleet;
  let autoScaling: AutoScalingAdapter;

  before(async () => {
    moto = await startMoto();
    clients = motoClients(moto);
    autoScaling = new AutoScalingAdapter(clients.autoScaling);
    fleet = await createLoopbackFleet(moto, {
      groupName: 'wire-workers',
      size: 3,
      tags: { 'themis:enabled': 'yes', team: 'render' },
    });
    await createLoopbackFleet(moto, {
      groupName: 'wire-other',
      size: 1,
      tags: { 'themis:enabled': 'no' },
    });
  });
  after(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await moto?.stop();
  });

  describe('clients', () => {
    let saved: string | undefined;
    let fromEnv: AwsClients | undefined;
    beforeEach(() => {
      saved = process.env.AWS_ENDPOINT_URL;
    });
    afterEach(async () => {
      if (fromEnv) await destroyAwsClients(fromEnv);
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    });

    it('reach the endpoint in AWS_ENDPOINT_URL for all five services', async () => {
      const queue = await createQueue(clients.sqs, 'wire-endpoint');
      const { TopicArn } = await clients.sns.send(
        new CreateTopicCommand({ Name: 'wire-endpoint' }),
      );
      await clients.ssm.send(
        new CreateDocumentCommand({
          Name: 'wire-endpoint-doc',
          DocumentType: 'Command',
          DocumentFormat: 'JSON',
          Content: JSON.stringify(DRAIN_DOCUMENT),
        }),
      );

      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      fromEnv = createAwsClients(moto.region);

      // Each answer below exists only in this moto_server, so it proves where the call went.
      const groups = await new AutoScalingAdapter(fromEnv.autoScaling).describeGroups([
        fleet.groupName,
      ]);
      expect(groups.map((g) => g.name)).to.deep.equal([fleet.groupName]);
      const addresses = await new Ec2Addresses(fromEnv.ec2).privateAddresses(fleet.instanceIds);
      expect(addresses).to.deep.equal(fleet.addresses);
      await new SnsNotifications(fromEnv.sns, TopicArn!).publish({
        subject: 'endpoint check',
        message: 'm',
        attributes: {},
      });
      await new SqsRechecks(fromEnv.sqs, queue.url).schedule('endpoint check', 0);
      expect((await receive(clients.sqs, queue.url, 1)).map((m) => m.Body)).to.deep.equal([
        'endpoint check',
      ]);
      expect(await new SsmCommands(fromEnv.ssm).documentExists('wire-endpoint-doc')).to.equal(true);
    });
  });

  describe('Auto Scaling', () => {
    it('describes a group with its instances and tags, and leaves out a missing one', async () => {
      const groups = await autoScaling.describeGroups([fleet.groupName, 'wire-missing']);

      expect(groups).to.have.length(1);
      const [group] = groups;
      expect(group!.name).to.equal(fleet.groupName);
      expect(group!.arn).to.match(/^arn:aws:autoscaling:.*autoScalingGroupName\/wire-workers$/);
      expect(group!.tags).to.deep.equal({ 'themis:enabled': 'yes', team: 'render' });
      expect(group!.instances.map((i) => i.instanceId).sort()).to.deep.equal(
        [...fleet.instanceIds].sort(),
      );
      for (const instance of group!.instances) {
        expect(instance).to.include({
          lifecycleState: 'InService',
          healthStatus: 'Healthy',
          availabilityZone: `${moto.region}a`,
        });
      }
    });

    it('finds groups by tag', async () => {
      const groups = await autoScaling.findGroupsByTag('themis:enabled', 'yes');
      expect(groups.map((g) => g.name)).to.deep.equal([fleet.groupName]);
    });

    it('reads every page and every name chunk when there are more than 100 groups', async () => {
      await clients.ec2.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: 'wire-many',
          LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
        }),
      );
      const names = Array.from(
        { length: 105 },
        (_, i) => `wire-many-${String(i).padStart(3, '0')}`,
      );
      for (const name of names) {
        await clients.autoScaling.send(
          new CreateAutoScalingGroupCommand({
            AutoScalingGroupName: name,
            MinSize: 0,
            MaxSize: 1,
            DesiredCapacity: 0,
            LaunchTemplate: { LaunchTemplateName: 'wire-many' },
            AvailabilityZones: [`${moto.region}a`],
            Tags: [
              {
                Key: 'wire-batch',
                Value: 'many',
                ResourceId: name,
                ResourceType: 'auto-scaling-group',
              },
            ],
          }),
        );
      }

      const tagged = await autoScaling.findGroupsByTag('wire-batch', 'many');
      const named = await autoScaling.describeGroups([
        ...names,
        'wire-missing-1',
        'wire-missing-2',
      ]);

      expect(tagged.map((g) => g.name).sort()).to.deep.equal(names);
      expect(named.map((g) => g.name).sort()).to.deep.equal(names);
    });

    it('sets and removes scale-in protection, read back from the group', async () => {
      const [a, b, c] = fleet.instanceIds as [string, string, string];

      await autoScaling.setInstanceProtection(fleet.groupName, [a, b], true);
      await autoScaling.setInstanceProtection(fleet.groupName, [b], false);

      const [group] = await autoScaling.describeGroups([fleet.groupName]);
      const protectedIds = group!.instances
        .filter((i) => i.protectedFromScaleIn)
        .map((i) => i.instanceId);
      expect(protectedIds).to.deep.equal([a]);
      expect(group!.instances.find((i) => i.instanceId === c)!.protectedFromScaleIn).to.equal(
        false,
      );
    });

    it('describes a lifecycle hook, with the global timeout moto misreports corrected', async () => {
      await clients.autoScaling.send(
        new PutLifecycleHookCommand({
          AutoScalingGroupName: fleet.groupName,
          LifecycleHookName: 'themis-gate',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 120,
          DefaultResult: 'CONTINUE',
          NotificationMetadata: '{"metricsPort":9100}',
        }),
      );

      const hook = await autoScaling.describeHook(fleet.groupName, 'themis-gate');

      expect(hook).to.deep.equal({
        hookName: 'themis-gate',
        groupName: fleet.groupName,
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 120,
        // moto reports 172800 whatever the heartbeat; Auto Scaling's rule gives 100 × 120.
        globalTimeoutSeconds: 12000,
        defaultResult: 'CONTINUE',
        // moto drops NotificationMetadata (it stores no such field); the unit tests cover
        // its mapping from a real-shaped answer.
      });
      expect(await autoScaling.describeHook(fleet.groupName, 'no-such-hook')).to.equal(undefined);
      expect(await autoScaling.describeHook('wire-missing', 'themis-gate')).to.equal(undefined);
    });

    it('moto does not implement heartbeats or completion: its 500 surfaces as UpstreamError', async () => {
      // One attempt: retrying moto's NotImplementedError only slows the test down.
      const once = new AutoScalingClient({ ...moto.clientConfig, maxAttempts: 1 });
      try {
        const adapter = new AutoScalingAdapter(once);
        const action = {
          groupName: fleet.groupName,
          hookName: 'themis-gate',
          instanceId: fleet.instanceIds[0]!,
        };
        const heartbeat = await adapter.recordHeartbeat(action).catch((e: unknown) => e);
        const complete = await adapter.complete(action, 'CONTINUE').catch((e: unknown) => e);

        for (const err of [heartbeat, complete]) {
          expect(err).to.be.instanceOf(UpstreamError);
          const cause = (err as UpstreamError).cause as { $metadata?: { httpStatusCode?: number } };
          expect(cause.$metadata?.httpStatusCode).to.equal(500);
        }
      } finally {
        once.destroy();
      }
    });
  });

  describe('EC2', () => {
    it('gives the loopback private addresses moto assigned, skipping unknown ids', async () => {
      const ec2 = new Ec2Addresses(clients.ec2);

      const addresses = await ec2.privateAddresses([...fleet.instanceIds, 'i-0123456789abcdef0']);

      expect(addresses).to.deep.equal(fleet.addresses);
      expect(addresses.size).to.equal(3);
      for (const address of addresses.values()) {
        expect(isLoopbackAddress(address)).to.equal(true);
        // The first fleet on this server lives in 127.0.1.0/24.
        expect(address).to.match(/^127\.0\.1\.\d+$/);
      }
    });
  });

  describe('SNS', () => {
    it('publishes an envelope an SQS subscriber can read: subject, message, attributes', async () => {
      const queue = await createQueue(clients.sqs, 'wire-notices');
      const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: 'wire-notices' }));
      await clients.sns.send(
        new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: queue.arn }),
      );
      const sns = new SnsNotifications(clients.sns, TopicArn!);

      await sns.publish({
        subject: 'themis: released\ni-1 from wire-workers',
        message: 'i-1 was idle; completed with CONTINUE',
        attributes: { event: 'released', group: 'wire-workers' },
      });
      // moto, like SNS, rejects subjects over 100 characters: this one must be cut to fit.
      await sns.publish({ subject: 's'.repeat(150), message: 'long subject', attributes: {} });

      const messages = await receive(clients.sqs, queue.url, 2);
      const envelopes = messages.map((m) => JSON.parse(m.Body!) as Record<string, unknown>);
      const released = envelopes.find((e) => e.Message === 'i-1 was idle; completed with CONTINUE');
      expect(released).to.include({
        Type: 'Notification',
        TopicArn,
        Subject: 'themis: released i-1 from wire-workers',
      });
      expect(released!.MessageAttributes).to.deep.equal({
        event: { Type: 'String', Value: 'released' },
        group: { Type: 'String', Value: 'wire-workers' },
      });
      const long = envelopes.find((e) => e.Message === 'long subject');
      expect(Array.from(long!.Subject as string)).to.have.length(99);
    });
    it('carries every attribute of a notice, the outcome id too, as String message attributes', async () => {
      // Broken variant tried: an adapter that sends only event and group — the id is missing.
      const queue = await createQueue(clients.sqs, 'wire-attributes');
      const { TopicArn } = await clients.sns.send(
        new CreateTopicCommand({ Name: 'wire-attributes' }),
      );
      await clients.sns.send(
        new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: queue.arn }),
      );
      const attributes = {
        event: 'released',
        group: 'wire-workers',
        'outcome-id': 'wire-workers/i-0123456789abcdef0/3f1c9a2e/released',
        instance: 'i-0123456789abcdef0',
        'result.code': 'CONTINUE',
      };

      await new SnsNotifications(clients.sns, TopicArn!).publish({
        subject: 'themis: released i-0123456789abcdef0',
        message: 'attributes',
        attributes,
      });

      const [message] = await receive(clients.sqs, queue.url, 1);
      const envelope = JSON.parse(message!.Body!) as {
        MessageAttributes: Record<string, { Type: string; Value: string }>;
      };
      expect(envelope.MessageAttributes).to.deep.equal(
        Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            { Type: 'String', Value: value },
          ]),
        ),
      );
    });
  });

  describe('SQS', () => {
    it('delays a recheck: a clamped 900 s message stays hidden, a 2 s one arrives after 2 s', async () => {
      const queue = await createQueue(clients.sqs, 'wire-rechecks');
      const rechecks = new SqsRechecks(clients.sqs, queue.url);

      // moto rejects DelaySeconds above 900, so this send only succeeds because it is clamped.
      await rechecks.schedule('much later', 5000);
      await rechecks.schedule('now', 0);
      await rechecks.schedule('soon', 2);

      const messages = await receive(clients.sqs, queue.url, 2, 6);

      expect(messages.map((m) => m.Body).sort()).to.deep.equal(['now', 'soon']);
      const soon = messages.find((m) => m.Body === 'soon')!;
      const sentMs = Number(soon.Attributes!.SentTimestamp);
      const firstSeenMs = Number(soon.Attributes!.ApproximateFirstReceiveTimestamp);
      // A lower bound the delay guarantees, not a speed assertion.
      expect(firstSeenMs - sentMs).to.be.at.least(2000);
    });
  });

  describe('SSM', () => {
    let ssm: SsmCommands;
    before(async () => {
      ssm = new SsmCommands(clients.ssm);
      await clients.ssm.send(
        new CreateDocumentCommand({
          Name: 'themis-drain',
          DocumentType: 'Command',
          DocumentFormat: 'JSON',
          Content: JSON.stringify(DRAIN_DOCUMENT),
        }),
      );
    });

    it('knows which documents exist', async () => {
      expect(await ssm.documentExists('themis-drain')).to.equal(true);
      expect(await ssm.documentExists('themis-no-such-document')).to.equal(false);
    });

    it('sends a command to an instance and reads its invocation', async () => {
      const instanceId = fleet.instanceIds[0]!;

      const commandId = await ssm.send(
        instanceId,
        'themis-drain',
        { commands: ['echo drained'] },
        120,
      );

      expect(commandId).to.match(/^[0-9a-f-]{36}$/);
      // moto runs nothing: every invocation it knows is Success at once.
      expect(await ssm.status(commandId, instanceId)).to.deep.equal({ state: 'success' });
      // An instance the command never reached has no invocation: still pending.
      expect((await ssm.status(commandId, 'i-0123456789abcdef0')).state).to.equal('pending');
    });

    it('fails with the SSM error name for an unknown command id', async () => {
      const err = await ssm
        .status('00000000-0000-0000-0000-000000000000', fleet.instanceIds[0]!)
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect(awsErrorName(err)).to.equal('InvalidCommandId');
    });

    it('moto does not implement DescribeInstanceInformation: isManaged surfaces its 500', async () => {
      const once = new SSMClient({ ...moto.clientConfig, maxAttempts: 1 });
      try {
        const err = await new SsmCommands(once)
          .isManaged(fleet.instanceIds[0]!)
          .catch((e: unknown) => e);
        expect(err).to.be.instanceOf(UpstreamError);
        const cause = (err as UpstreamError).cause as { $metadata?: { httpStatusCode?: number } };
        expect(cause.$metadata?.httpStatusCode).to.equal(500);
      } finally {
        once.destroy();
      }
    });
  });
});
