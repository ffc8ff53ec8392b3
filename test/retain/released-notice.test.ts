/**
 * The "released retained" notice survives an SNS outage as the gate's outcome notices do
 * (lib/protect/retained.ts, lib/gate/notice-retry.ts): protect's retained step terminates an
 * idle retained instance, SNS refuses the notice (the real SnsNotifications over
 * aws-sdk-client-mock), and protect hands it to the gate's recheck queue (the real SqsRechecks
 * over aws-sdk-client-mock) as a pending notice; delivered to the gate, it is published, or
 * retried with growing delays until SNS takes it.
 *
 * Broken variants caught: no queue fallback (the notice is only logged: 'failed', nothing
 * sent — 3 fail); Publish given the whole time left (a Publish that hangs leaves the queue no
 * time: 'failed' — 1 fails).
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { mergeSettings, type Target } from '../../lib/config.js';
import { decodePendingNotice, NOTICE_RETRY_LIMIT_SECONDS } from '../../lib/gate/notice-retry.js';
import { gateStep } from '../../lib/gate/step.js';
import { createRecordingLog } from '../../lib/log.js';
import type { RetainedInstances } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { handleRetained, RETAINED_CALL_MS } from '../../lib/protect/retained.js';
import { retainedOutcomeId } from '../../lib/retain/notice.js';
import { Deadline } from '../../lib/time.js';
import { awsError, makeWorld } from '../gate/fakes.js';
import { FakeFleet } from '../protect/fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:themis-outcomes';
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-recheck';
const IDLE = '127.0.32.11';
const ID = 'i-0000000000000aaaa';

function snsDown(): Error {
  return Object.assign(new Error('SNS is down'), {
    name: 'InternalError',
    $metadata: { httpStatusCode: 500 },
  });
}

describe('retain: the released notice when SNS fails', () => {
  let workers: WorkerSet;
  let sns: AwsClientStub<SNSClient>;
  let sqs: AwsClientStub<SQSClient>;
  let terminated: string[];
  let log: ReturnType<typeof createRecordingLog>;

  before(async () => {
    workers = await startWorkersOnOnePort([[IDLE, { kind: 'answer', body: 'IDLE' }]]);
  });
  after(() => workers.close());

  beforeEach(() => {
    sns = mockClient(SNSClient);
    sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    terminated = [];
    log = createRecordingLog();
  });
  afterEach(() => {
    sns.restore();
    sqs.restore();
  });

  const target = (): Target => ({
    asgName: 'workers',
    region: 'us-east-1',
    ...mergeSettings({ metricsPort: workers.port, timeoutMs: 300 }),
  });
  const retained: RetainedInstances = {
    terminateRetained: async (id) => void terminated.push(id),
  };
  const fleet = () =>
    new FakeFleet().addGroup('workers', [
      {
        instanceId: ID,
        address: IDLE,
        lifecycleState: 'Terminating:Retained',
        protectedFromScaleIn: false,
      },
    ]);

  async function releaseStep(options: { queue?: boolean; deadline?: Deadline } = {}) {
    const f = fleet();
    const [report] = await handleRetained(target(), f.groups.get('workers')!.members, {
      addresses: f,
      prober: createHttpProber({ loopbackOnly: true }),
      retained,
      notifications: new SnsNotifications(new SNSClient({ region: 'us-east-1' }), TOPIC),
      ...(options.queue === false
        ? {}
        : { rechecks: new SqsRechecks(new SQSClient({ region: 'us-east-1' }), QUEUE) }),
      log,
      clock: () => Date.parse('2026-11-26T20:00:00Z'),
      ...(options.deadline ? { deadline: options.deadline } : {}),
    });
    return report!;
  }

  it('publishes the notice when SNS takes it, and queues nothing', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'n-1' });
    const report = await releaseStep();
    expect(report).to.include({ action: 'terminated', notice: 'published' });
    expect(sns.commandCalls(PublishCommand)).to.have.length(1);
    expect(sqs.commandCalls(SendMessageCommand)).to.have.length(0);
  });

  it("hands a notice SNS refused to the gate's recheck queue, and the gate publishes it once SNS is back", async () => {
    sns.on(PublishCommand).rejects(snsDown());
    const report = await releaseStep();
    expect(terminated).to.deep.equal([ID]);
    expect(report).to.include({ action: 'terminated', notice: 'queued' });

    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent).to.have.length(1);
    expect(sent[0]).to.include({ QueueUrl: QUEUE, DelaySeconds: 30 });
    const refused = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    const pending = decodePendingNotice(JSON.parse(sent[0]!.MessageBody!), Date.now());
    expect(pending.attempts).to.equal(1);
    expect(pending.notice.subject).to.equal(refused.Subject);
    expect(pending.notice.message).to.equal(refused.Message);
    expect(pending.notice.attributes).to.deep.equal({
      event: 'retained-released',
      group: 'workers',
      'outcome-id': retainedOutcomeId('workers', ID),
    });
    expect(log.lines.map((l) => [l.level, l.message])).to.deep.include([
      'warn',
      'notification not sent; the gate retries it from the recheck queue',
    ]);

    // The queue delivers it to the gate: SNS still down → scheduled again, later; SNS back →
    // published, the same notice.
    const world = makeWorld();
    world.clock.set('2026-11-26T20:00:30Z');
    world.notifications.fail = awsError('InternalError', 'SNS is down', 'Publish');
    const again = await gateStep(sent[0]!.MessageBody!, world.deps);
    expect(again.outcome).to.equal('notice-pending');
    expect(world.rechecks.scheduled.map((r) => r.delaySeconds)).to.deep.equal([60]);
    delete world.notifications.fail;
    world.clock.advance(60);
    const delivered = await gateStep(world.rechecks.scheduled[0]!.body, world.deps);
    expect(delivered.outcome).to.equal('notified');
    expect(world.notifications.published).to.have.length(1);
    expect(world.notifications.published[0]).to.deep.equal(pending.notice);
    expect(NOTICE_RETRY_LIMIT_SECONDS).to.be.at.least(3600);
  });

  it('keeps half of the time left for the queue when Publish never answers', async () => {
    // 2 × RETAINED_CALL_MS would be plenty; give the step a little more than a probe and one
    // call, so a Publish allowed all of RETAINED_CALL_MS would leave the queue nothing.
    sns.on(PublishCommand).callsFake(() => new Promise(() => {}));
    const report = await releaseStep({ deadline: Deadline.after(300 + RETAINED_CALL_MS + 1_500) });
    expect(report).to.include({ action: 'terminated', notice: 'queued' });
    expect(sqs.commandCalls(SendMessageCommand)).to.have.length(1);
  });

  it('logs and reports a notice that neither SNS nor the queue took (the termination stands)', async () => {
    sns.on(PublishCommand).rejects(snsDown());
    sqs
      .on(SendMessageCommand)
      .rejects(Object.assign(new Error('SQS is down'), { name: 'InternalError' }));
    const report = await releaseStep();
    expect(report).to.include({ action: 'terminated', notice: 'failed' });
    const line = log.lines.find(
      (l) => l.message === 'notification not sent, nor queued for a retry',
    );
    expect(line?.level).to.equal('error');
  });

  it('without a queue configured, only logs and reports the refused notice', async () => {
    sns.on(PublishCommand).rejects(snsDown());
    const report = await releaseStep({ queue: false });
    expect(report).to.include({ action: 'terminated', notice: 'failed' });
    expect(sqs.commandCalls(SendMessageCommand)).to.have.length(0);
    const line = log.lines.find((l) => l.message === 'notification not sent');
    expect(line?.level).to.equal('error');
  });
});
