/**
 * The gate over the wire against moto_server: real SDK clients and adapters, real HTTP to
 * moto for EC2 addresses, group tags, DescribeLifecycleHooks, the SQS delay queue, the SNS
 * topic (read back through a subscribed SQS queue) and SSM documents and commands; a real
 * loopback worker on the address moto gave the instance.
 *
 * What moto does NOT check (see docs/aws.md): it does not implement RecordLifecycleActionHeartbeat,
 * CompleteLifecycleAction or ssm:DescribeInstanceInformation. Those three requests are
 * caught by a middleware on the SDK client just before they would be sent: the middleware
 * records the request the adapter built and answers in AWS's place. The assertions on them
 * check what the gate asked for, not what Auto Scaling would do with it — the lifecycle
 * semantics are the fleet simulator's job.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { SNSClient } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { CreateDocumentCommand } from '@aws-sdk/client-ssm';
import { expect } from 'chai';
import { createGatePorts } from '../../lib/gate/aws-ports.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { parseGateEnv } from '../../lib/gate/config.js';
import { createGateHandler, type SqsBatchResponse } from '../../lib/gate/handler.js';
import { outcomeId } from '../../lib/gate/notices.js';
import type { GateDeps, StepOutcome } from '../../lib/gate/step.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber, isLoopbackAddress } from '../../lib/probe.js';
import { closedPort, startWorker, type Worker } from '../helpers/http-workers.js';
import { startSnsOutageProxy } from '../helpers/sns-outage-proxy.js';
import { lifecycleEvent } from '../helpers/events.js';
import {
  createGateWireStack,
  intercept,
  interceptLifecycleActions,
  snsNotices as notices,
  type Intercepted,
  type Queue,
} from '../helpers/gate-wire.js';
import {
  motoClients,
  startMoto,
  type Moto,
  type MotoClients,
  type MotoFleet,
} from '../helpers/moto.js';
import { asSqsEvent, receiveAndDelete } from './sqs-wire.js';

const HOOK = 'themis-wire';
const TOKEN = 'a1b2c3d4-0000-4000-8000-000000000a1e';

describe('gate over the wire (moto) @slow', function () {
  let moto: Moto;
  let clients: MotoClients;
  let fleet: MotoFleet;
  let instanceId: string;
  let worker: Worker;
  let rechecks: Queue;
  let inbox: Queue;
  let topicArn: string;
  let lifecycleCalls: Intercepted[];
  let ssmCalls: Intercepted[];

  before(async () => {
    moto = await startMoto();
    clients = motoClients(moto);
    lifecycleCalls = interceptLifecycleActions(clients);
    ssmCalls = intercept(clients.ssm, {
      DescribeInstanceInformationCommand: () => ({
        InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }],
      }),
    });
    ({ fleet, instanceId, rechecks, inbox, topicArn } = await createGateWireStack(moto, clients, {
      name: 'gate-wire',
      hook: HOOK,
      heartbeatTimeoutSeconds: 60,
      tags: { 'themis:busy-url': '/status' },
    }));
  });

  after(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    const address = fleet.addresses.get(instanceId)!;
    expect(isLoopbackAddress(address)).to.equal(true);
    worker = await startWorker({ kind: 'answer', body: 'BUSY' }, address);
    lifecycleCalls.length = 0;
    ssmCalls.length = 0;
  });
  afterEach(async () => {
    await worker.close();
  });

  function deps(env: Record<string, string> = {}): GateDeps {
    const config = parseGateEnv({
      THEMIS_RECHECK_QUEUE_URL: rechecks.url,
      THEMIS_TOPIC_ARN: topicArn,
      THEMIS_METRICS_PORT: String(worker.port),
      // The smallest interval allowed, so the test waits only seconds for the delayed message.
      THEMIS_RECHECK_SECONDS: '5',
      ...env,
    });
    return {
      config,
      ...createGatePorts(config, clients),
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
      clock: Date.now,
      random: () => 0,
    };
  }

  function event() {
    return lifecycleEvent({
      group: fleet.groupName,
      hook: HOOK,
      instanceId,
      token: TOKEN,
      region: moto.region,
      id: 'wire-1',
    });
  }

  it('holds a busy worker with a heartbeat and a delayed recheck, then releases it when idle', async () => {
    const gate = deps();
    const handler = createGateHandler(gate);

    const held = (await handler(event())) as StepOutcome;
    expect(held).to.include({ outcome: 'held', decision: 'hold', delaySeconds: 4 }); // 5 s less the queue's delivery allowance
    // The group's themis:busy-url tag, read from moto, chose the path.
    expect(worker.requests).to.deep.equal(['/status']);
    expect(lifecycleCalls).to.deep.equal([
      {
        command: 'RecordLifecycleActionHeartbeat',
        input: {
          AutoScalingGroupName: fleet.groupName,
          LifecycleHookName: HOOK,
          LifecycleActionToken: TOKEN,
        },
      },
    ]);

    // Delayed: not visible at once (5 s of margin), visible once the delay has passed.
    const early = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: rechecks.url, WaitTimeSeconds: 0 }),
    );
    expect(early.Messages ?? []).to.deep.equal([]);
    const [recheck] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
    expect(recheck, 'the recheck message').to.not.equal(undefined);
    const body = JSON.parse(recheck!.Body!);
    expect(body).to.deep.include({ themis: 'recheck', v: 2, attempt: 2, unknowns: 0 });
    expect(body.action).to.include({ instanceId, token: TOKEN, hookName: HOOK });
    // DescribeLifecycleHooks over the wire: HeartbeatTimeout 60 → global timeout 6000.
    expect(body.hook).to.deep.equal({ heartbeatTimeoutSeconds: 60, globalTimeoutSeconds: 6000 });

    const holding = notices(await receiveAndDelete(clients.sqs, inbox.url, 1));
    expect(holding.map((n) => n.attributes.event)).to.deep.equal(['holding']);

    worker.set({ kind: 'answer', body: 'IDLE' });
    const response = (await handler(asSqsEvent([recheck!]))) as SqsBatchResponse;
    expect(response).to.deep.equal({ batchItemFailures: [] });
    expect(lifecycleCalls.map((c) => c.command)).to.deep.equal([
      'RecordLifecycleActionHeartbeat',
      'CompleteLifecycleAction',
    ]);
    expect(lifecycleCalls[1]!.input).to.deep.equal({
      AutoScalingGroupName: fleet.groupName,
      LifecycleHookName: HOOK,
      LifecycleActionResult: 'CONTINUE',
      LifecycleActionToken: TOKEN,
    });
    expect(await receiveAndDelete(clients.sqs, rechecks.url, 1, 1)).to.deep.equal([]);

    const [released] = notices(await receiveAndDelete(clients.sqs, inbox.url, 1));
    expect(released!.attributes).to.include({ event: 'released', group: fleet.groupName });
    expect(released!.subject).to.match(
      new RegExp(`^themis: released ${instanceId} in gate-wire after \\d+ s$`),
    );
    expect(released!.message).to.contain('Facts:').and.not.contain(TOKEN);
  });

  // Issue 8: a direct first step that fails retryably goes on the recheck queue (SQS's
  // redelivery then governs it), not only to Lambda's two retries within three minutes.
  it('puts a first step that cannot reach Auto Scaling on the recheck queue, and carries it on from there', async () => {
    const unreachable = new AutoScalingClient({
      ...moto.clientConfig,
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      maxAttempts: 2,
    });
    try {
      const gate = deps();
      const cut = {
        ...gate,
        ...createGatePorts(gate.config, { ...clients, autoScaling: unreachable }),
      };
      const sent = event();
      expect(await createGateHandler(cut)(sent), 'no error: not left to Lambda').to.equal(
        undefined,
      );
      expect(lifecycleCalls).to.deep.equal([]);

      const [queued] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
      expect(JSON.parse(queued!.Body!)).to.deep.equal(JSON.parse(JSON.stringify(sent)));

      // Auto Scaling answers again: the queued event is a first step like any other.
      const response = (await createGateHandler(gate)(asSqsEvent([queued!]))) as SqsBatchResponse;
      expect(response).to.deep.equal({ batchItemFailures: [] });
      expect(lifecycleCalls.map((c) => c.command)).to.deep.equal([
        'RecordLifecycleActionHeartbeat',
      ]);
      const [recheck] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
      expect(JSON.parse(recheck!.Body!)).to.deep.include({ themis: 'recheck', attempt: 2 });
      const holding = notices(await receiveAndDelete(clients.sqs, inbox.url, 1));
      expect(holding.map((n) => n.attributes.event)).to.deep.equal(['holding']);
    } finally {
      unreachable.destroy();
    }
  });

  it('runs the pre-termination command through SSM and releases when it succeeded', async () => {
    await clients.ssm.send(
      new CreateDocumentCommand({
        Name: 'gate-wire-backup',
        DocumentType: 'Command',
        DocumentFormat: 'JSON',
        Content: JSON.stringify({
          schemaVersion: '2.2',
          description: 'themis test: back up logs before termination',
          parameters: { commands: { type: 'StringList', default: ['true'] } },
          mainSteps: [
            {
              action: 'aws:runShellScript',
              name: 'backup',
              inputs: { runCommand: '{{ commands }}' },
            },
          ],
        }),
      }),
    );
    worker.set({ kind: 'answer', body: 'IDLE' });
    const handler = createGateHandler(
      deps({
        THEMIS_SSM_DOCUMENT: 'gate-wire-backup',
        THEMIS_SSM_PARAMETERS: '{"commands":["tar czf /tmp/logs.tgz /var/log"]}',
      }),
    );

    const first = (await handler(event())) as StepOutcome;
    expect(first).to.include({ outcome: 'held', decision: 'run-ssm' });
    expect(ssmCalls.map((c) => c.command)).to.deep.equal(['DescribeInstanceInformation']);
    const [recheck] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
    const commandId = JSON.parse(recheck!.Body!).ssm.commandId as string;
    expect(commandId).to.be.a('string').and.not.equal('');

    // moto runs every command to Success at once; GetCommandInvocation goes over the wire.
    const response = (await handler(asSqsEvent([recheck!]))) as SqsBatchResponse;
    expect(response.batchItemFailures).to.deep.equal([]);
    expect(lifecycleCalls.map((c) => c.command)).to.deep.equal([
      'RecordLifecycleActionHeartbeat',
      'CompleteLifecycleAction',
    ]);
    expect(lifecycleCalls[1]!.input).to.include({ LifecycleActionResult: 'CONTINUE' });
    const [released] = notices(await receiveAndDelete(clients.sqs, inbox.url, 1));
    expect(released!.attributes.event).to.equal('released');
    expect(released!.message).to.contain('gate-wire-backup succeeded');
  });

  it('applies the failure policy when the command document does not exist in SSM', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    const handler = createGateHandler(
      deps({ THEMIS_SSM_DOCUMENT: 'gate-wire-missing', THEMIS_ON_SSM_FAILURE: 'ABANDON' }),
    );
    const outcome = (await handler(event())) as StepOutcome;
    expect(outcome).to.include({ outcome: 'completed', decision: 'ssm-failed', result: 'ABANDON' });
    expect(lifecycleCalls.map((c) => [c.command, c.input.LifecycleActionResult])).to.deep.equal([
      ['RecordLifecycleActionHeartbeat', undefined],
      ['CompleteLifecycleAction', 'ABANDON'],
    ]);
    const [notice] = notices(await receiveAndDelete(clients.sqs, inbox.url, 1));
    expect(notice!.attributes.event).to.equal('ssm-failed');
    expect(notice!.message).to.contain('does not exist');
  });

  // Issue 8's proof: an SNS outage over the wire. Publish answers 500 (the outage proxy in
  // front of moto) when the gate completes the action; the notice goes on the real recheck
  // queue and reaches the subscriber once SNS is back. The queue's DelaySeconds are recorded
  // (30 s, then 60 s) but the messages are sent without delay, so the test does not wait
  // minutes; every other part is the real path.
  it('delivers the outcome notice after an SNS outage, with its outcome id', async () => {
    const proxy = await startSnsOutageProxy(moto.endpoint);
    const sns = new SNSClient({ ...moto.clientConfig, endpoint: proxy.url, maxAttempts: 2 });
    try {
      worker.set({ kind: 'answer', body: 'IDLE' });
      const gate = deps();
      const queue = gate.rechecks;
      const delays: number[] = [];
      gate.rechecks = {
        schedule: (body, delaySeconds, opts) => {
          delays.push(delaySeconds);
          return queue.schedule(body, 0, opts);
        },
      };
      gate.notifications = new SnsNotifications(sns, topicArn);
      const handler = createGateHandler(gate);
      proxy.start();

      const completed = (await handler(event())) as StepOutcome;
      expect(completed).to.include({ outcome: 'completed', decision: 'release' });
      expect(lifecycleCalls.map((c) => c.command)).to.deep.equal(['CompleteLifecycleAction']);
      expect(proxy.failedPublishes()).to.be.at.least(1);

      // Still down: the pending notice is published in vain and scheduled once more.
      const [pending] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
      expect(JSON.parse(pending!.Body!)).to.include({ themis: 'notice', attempts: 1 });
      const again = (await handler(asSqsEvent([pending!]))) as SqsBatchResponse;
      expect(again.batchItemFailures).to.deep.equal([]);
      expect(delays).to.deep.equal([30, 60]);

      proxy.end();
      const [retry] = await receiveAndDelete(clients.sqs, rechecks.url, 1);
      const delivered = (await handler(asSqsEvent([retry!]))) as SqsBatchResponse;
      expect(delivered.batchItemFailures).to.deep.equal([]);
      expect(proxy.forwardedPublishes()).to.equal(1);

      const messages = await receiveAndDelete(clients.sqs, inbox.url, 1);
      const [released] = notices(messages);
      expect(released!.attributes).to.include({ event: 'released', group: fleet.groupName });
      const attributes = (
        JSON.parse(messages[0]!.Body!) as {
          MessageAttributes: Record<string, { Value: string }>;
        }
      ).MessageAttributes;
      expect(attributes['outcome-id']!.Value).to.equal(
        outcomeId({ groupName: fleet.groupName, hookName: HOOK, instanceId, token: TOKEN }),
      );
      expect(await receiveAndDelete(clients.sqs, rechecks.url, 1, 1)).to.deep.equal([]);
    } finally {
      sns.destroy();
      await proxy.close();
    }
  });
});
