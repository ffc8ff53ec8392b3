/**
 * Retention over the wire against moto_server (real SDK client, real adapter). What moto does
 * with it, checked here rather than assumed: it accepts InstanceLifecyclePolicy on
 * UpdateAutoScalingGroup (an unknown query parameter to it), does not store it and never
 * returns it — so every group reads as "does not retain", and the Retained states themselves
 * are the fleet simulator's job (sim/fleet.ts). TerminateInstanceInAutoScalingGroup it does
 * implement, ShouldDecrementDesiredCapacity included.
 *
 * And the released notice through an SNS outage (test/helpers/sns-outage-proxy.ts: Publish
 * answers 500 while it lasts): protect's retained step terminates the instance in moto, SNS
 * refuses the notice, and it lands on a real SQS queue with its 30 s delay (moto honours
 * DelaySeconds; test/retain/released-notice.test.ts checks the message and the gate's part).
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { mergeSettings } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { handleRetained } from '../../lib/protect/retained.js';
import { createQueue } from '../gate/sqs-wire.js';
import { startWorker } from '../helpers/http-workers.js';
import { createLoopbackFleet, motoClients, startMoto, type Moto } from '../helpers/moto.js';
import { startSnsOutageProxy } from '../helpers/sns-outage-proxy.js';

describe('retain: Auto Scaling over the wire (moto)', function () {
  this.timeout(60_000);
  let moto: Moto;
  let client: AutoScalingClient;
  let adapter: AutoScalingAdapter;

  before(async () => {
    moto = await startMoto();
    client = new AutoScalingClient(moto.clientConfig);
    adapter = new AutoScalingAdapter(client);
  });
  after(async () => {
    client.destroy();
    await moto.stop();
  });

  it('accepts the instance lifecycle policy but never reports it, so the group reads as not retaining', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-policy', size: 1 });
    const input = {
      AutoScalingGroupName: fleet.groupName,
      InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'retain' as const } },
    };
    await client.send(new UpdateAutoScalingGroupCommand(input));
    const raw = await client.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.groupName] }),
    );
    expect(raw.AutoScalingGroups?.[0]?.InstanceLifecyclePolicy).to.equal(undefined);
    const [group] = await adapter.describeGroups([fleet.groupName]);
    expect(group!.name).to.equal(fleet.groupName);
    expect(group!.retainsOnAbandon).to.equal(undefined);
  });

  it('terminates an instance and keeps the desired capacity (ShouldDecrementDesiredCapacity=false)', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-terminate', size: 2 });
    const victim = fleet.instanceIds[0]!;
    await adapter.terminateRetained(victim);
    const raw = await client.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.groupName] }),
    );
    const group = raw.AutoScalingGroups![0]!;
    expect(group.DesiredCapacity).to.equal(2);
    const ids = (group.Instances ?? []).map((i) => i.InstanceId);
    expect(ids).to.not.include(victim);
    // moto replaces it at once: the group is back at its (undecremented) desired capacity.
    expect(ids).to.have.length(2);
  });

  it('puts a released notice SNS refuses on the recheck queue, delayed, after terminating the instance', async () => {
    const clients = motoClients(moto);
    const proxy = await startSnsOutageProxy(moto.endpoint);
    // Two SDK attempts, both refused by the outage (the production policy would try six).
    const sns = new SNSClient({ ...moto.clientConfig, endpoint: proxy.url, maxAttempts: 2 });
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-notice', size: 2 });
    const victim = fleet.instanceIds[0]!;
    const worker = await startWorker(
      { kind: 'answer', body: 'IDLE' },
      fleet.addresses.get(victim)!,
    );
    try {
      const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: 'outcomes' }));
      const queue = await createQueue(clients.sqs, 'retain-notice-rechecks');
      proxy.start();
      const log = createRecordingLog();
      // moto has no Retained state: the step is handed the listing protect would read.
      const [report] = await handleRetained(
        {
          asgName: fleet.groupName,
          region: moto.region,
          ...mergeSettings({ metricsPort: worker.port, timeoutMs: 1_000 }),
        },
        [
          {
            instanceId: victim,
            lifecycleState: 'Terminating:Retained',
            protectedFromScaleIn: false,
          },
        ],
        {
          addresses: new Ec2Addresses(clients.ec2),
          prober: createHttpProber({ loopbackOnly: true }),
          retained: adapter,
          notifications: new SnsNotifications(sns, TopicArn!),
          rechecks: new SqsRechecks(clients.sqs, queue.url),
          log,
          clock: Date.now,
        },
      );
      expect(report).to.include({ instanceId: victim, action: 'terminated', notice: 'queued' });
      expect(proxy.failedPublishes()).to.be.at.least(1);
      const [group] = await adapter.describeGroups([fleet.groupName]);
      expect(group!.instances.map((i) => i.instanceId)).to.not.include(victim);
      const { Attributes } = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queue.url,
          AttributeNames: ['ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessages'],
        }),
      );
      expect(Attributes).to.include({
        ApproximateNumberOfMessagesDelayed: '1',
        ApproximateNumberOfMessages: '0',
      });
    } finally {
      proxy.end();
      await worker.close();
      await proxy.close();
      sns.destroy();
      for (const c of Object.values(clients)) c.destroy();
    }
  });

  it('refuses an instance it does not know, and the adapter wraps the refusal', async () => {
    const err = await adapter.terminateRetained('i-00000000000000000').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.contain(
      'TerminateInstanceInAutoScalingGroup i-00000000000000000',
    );
  });
});
