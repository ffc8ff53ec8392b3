import { expect } from 'chai';
import sinon from 'sinon';
import { INVOCATION_RESERVE_MS } from '../../lib/gate/budget.js';
import {
  createGateHandler,
  GROUP_TAGS_TTL_MS,
  HOOK_TIMING_TTL_MS,
  type SqsBatchResponse,
} from '../../lib/gate/handler.js';
import { encodeRecheck, initialState, type StepState } from '../../lib/gate/state.js';
import type { StepOutcome } from '../../lib/gate/step.js';
import { DeadlineExceededError } from '../../lib/time.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  awsError,
  GROUP,
  HOOK,
  hookMessage,
  INSTANCE,
  makeWorld,
  snsEnvelope,
  sqsEvent,
  terminateEvent,
  TEST_NOTIFICATION_MESSAGE,
  TOKEN,
  type World,
} from './fakes.js';

const OTHER = 'i-0fed5678abc123456';
const THIRD = 'i-0aaa1111bbb222333';

describe('gate handler', () => {
  let worker: Worker;
  let world: World;

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
    world = makeWorld({ env: { THEMIS_METRICS_PORT: String(worker.port) } });
    for (const id of [INSTANCE, OTHER, THIRD]) world.groups.addresses.set(id, worker.address);
  });
  afterEach(async () => {
    await worker.close();
  });

  describe('an SQS batch', () => {
    it('reports exactly the malformed records as failures and handles every format in the batch', async () => {
      const recheck = encodeRecheck(
        {
          groupName: GROUP,
          hookName: HOOK,
          instanceId: THIRD,
          token: TOKEN,
          transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        },
        initialState(Date.parse('2024-05-01T11:58:00Z'), {
          heartbeatTimeoutSeconds: 300,
          globalTimeoutSeconds: 30_000,
        }),
      );
      const event = sqsEvent([
        { id: 'eventbridge', body: JSON.stringify(terminateEvent()) },
        { id: 'test-notification', body: JSON.stringify(TEST_NOTIFICATION_MESSAGE) },
        { id: 'not-json', body: '{"detail-type": "EC2 Instance-terminate' },
        {
          id: 'sns',
          body: JSON.stringify(snsEnvelope({ ...hookMessage(), EC2InstanceId: OTHER })),
        },
        {
          id: 'no-token',
          body: JSON.stringify({ ...hookMessage(), LifecycleActionToken: undefined }),
        },
        { id: 'recheck', body: recheck },
        { id: 'sns-test', body: JSON.stringify(snsEnvelope(TEST_NOTIFICATION_MESSAGE)) },
      ]);

      const response = (await createGateHandler(world.deps)(event)) as SqsBatchResponse;

      expect(response.batchItemFailures).to.have.deep.members([
        { itemIdentifier: 'not-json' },
        { itemIdentifier: 'no-token' },
      ]);
      expect(response.batchItemFailures).to.have.length(2);
      expect(world.lifecycle.heartbeats.map((h) => h.instanceId)).to.have.members([
        INSTANCE,
        OTHER,
        THIRD,
      ]);
      expect(world.rechecks.scheduled).to.have.length(3);
      const unreadable = world.log.lines.filter((l) => l.message === 'unreadable gate input');
      expect(unreadable.map((l) => l.fields.messageId)).to.have.members(['not-json', 'no-token']);
      expect(unreadable.find((l) => l.fields.messageId === 'no-token')!.fields.field).to.equal(
        'LifecycleActionToken',
      );
      expect(
        world.log.lines
          .filter((l) => l.message === 'gate input ignored')
          .map((l) => l.fields.reason),
      ).to.deep.equal(['test notification', 'test notification']);
    });

    it('reports a record whose step failed retryably, and only that one', async () => {
      world.lifecycle.failHeartbeatFor.set(
        OTHER,
        awsError('Throttling', 'Rate exceeded', 'RecordLifecycleActionHeartbeat'),
      );
      const response = (await createGateHandler(world.deps)(
        sqsEvent([
          { id: 'a', body: JSON.stringify(terminateEvent()) },
          { id: 'b', body: JSON.stringify(terminateEvent({ instanceId: OTHER })) },
        ]),
      )) as SqsBatchResponse;
      expect(response.batchItemFailures).to.deep.equal([{ itemIdentifier: 'b' }]);
      expect(
        world.rechecks.scheduled.map((r) => JSON.parse(r.body).action.instanceId),
      ).to.deep.equal([INSTANCE]);
      const failed = world.log.lines.find((l) => l.message.startsWith('gate step failed'));
      expect(failed?.fields).to.include({ messageId: 'b', error: 'UpstreamError' });
    });

    it('returns no failures for a batch that went well', async () => {
      const response = await createGateHandler(world.deps)(
        sqsEvent([{ id: 'a', body: JSON.stringify(terminateEvent()) }]),
      );
      expect(response).to.deep.equal({ batchItemFailures: [] });
    });

    it("reads a group's tags once per invocation, not once per record", async () => {
      const handler = createGateHandler(world.deps);
      const batch = sqsEvent(
        [INSTANCE, OTHER, THIRD].map((id) => ({
          id,
          body: JSON.stringify(terminateEvent({ instanceId: id })),
        })),
      );
      await handler(batch);
      expect(world.groups.describeCalls).to.have.length(1);
    });

    it("reuses a group's tags for GROUP_TAGS_TTL_MS across the container's invocations, then reads them again", async () => {
      const handler = createGateHandler(world.deps);
      const one = sqsEvent([{ id: 'a', body: JSON.stringify(terminateEvent()) }]);
      await handler(one);
      world.clock.advance(GROUP_TAGS_TTL_MS / 1000 - 1);
      await handler(one);
      expect(world.groups.describeCalls).to.have.length(1);
      world.groups.tags.set(GROUP, { 'themis:busy-url': '/other' });
      world.clock.advance(1);
      await handler(one);
      expect(world.groups.describeCalls).to.have.length(2);
      expect(worker.requests.at(-1)).to.equal('/other');
    });

    it('reads a hook once for the first steps of one batch, reuses it for HOOK_TIMING_TTL_MS at most, and never reuses a missing hook', async () => {
      const handler = createGateHandler(world.deps);
      await handler(
        sqsEvent(
          [INSTANCE, OTHER, THIRD].map((id) => ({
            id,
            body: JSON.stringify(terminateEvent({ instanceId: id })),
          })),
        ),
      );
      expect(world.lifecycle.describeCalls).to.equal(1);
      // The same scale-in's next batch, in this container: the answer is reused.
      world.clock.advance(HOOK_TIMING_TTL_MS / 1000 - 1);
      await handler(sqsEvent([{ id: 'a', body: JSON.stringify(terminateEvent()) }]));
      expect(world.lifecycle.describeCalls).to.equal(1);
      // A hook changed since must not be held on its old timing for longer (review regression).
      world.clock.advance(1);
      await handler(sqsEvent([{ id: 'a', body: JSON.stringify(terminateEvent()) }]));
      expect(world.lifecycle.describeCalls).to.equal(2);
      world.lifecycle.hooks.clear();
      world.clock.advance(HOOK_TIMING_TTL_MS / 1000);
      await handler(
        sqsEvent([{ id: 'b', body: JSON.stringify(terminateEvent({ instanceId: OTHER })) }]),
      );
      await handler(
        sqsEvent([{ id: 'c', body: JSON.stringify(terminateEvent({ instanceId: OTHER })) }]),
      );
      expect(world.lifecycle.describeCalls).to.equal(4);
    });

    it('does not keep a failed DescribeAutoScalingGroups for later invocations', async () => {
      const handler = createGateHandler(world.deps);
      const describe = world.groups.describeGroups.bind(world.groups);
      let fail = true;
      world.groups.describeGroups = async (names) => {
        if (fail) {
          world.groups.describeCalls.push([...names]);
          throw awsError('Throttling', 'Rate exceeded', 'DescribeAutoScalingGroups');
        }
        return describe(names);
      };
      const one = sqsEvent([{ id: 'a', body: JSON.stringify(terminateEvent()) }]);
      const failed = (await handler(one)) as SqsBatchResponse;
      expect(failed.batchItemFailures).to.have.length(1);
      fail = false;
      const ok = (await handler(one)) as SqsBatchResponse;
      expect(ok.batchItemFailures).to.deep.equal([]);
      expect(world.groups.describeCalls).to.have.length(2);
    });

    it('leaves every record for redelivery when the invocation is about to time out', async () => {
      const response = (await createGateHandler(world.deps)(
        sqsEvent([
          { id: 'a', body: JSON.stringify(terminateEvent()) },
          { id: 'b', body: JSON.stringify(terminateEvent({ instanceId: OTHER })) },
        ]),
        { getRemainingTimeInMillis: () => 1000 },
      )) as SqsBatchResponse;
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).to.have.members(['a', 'b']);
      expect(worker.requests).to.deep.equal([]);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
    });
  });

  describe('a direct EventBridge invocation', () => {
    it('runs one step', async () => {
      const outcome = (await createGateHandler(world.deps)(terminateEvent(), {
        getRemainingTimeInMillis: () => 60_000,
      })) as StepOutcome;
      expect(outcome).to.include({ outcome: 'held', source: 'eventbridge' });
      expect(world.lifecycle.heartbeats).to.have.length(1);
    });

    // Issue 8: Lambda retries a failed direct invocation twice within about three minutes,
    // then sends it to the DLQ; an outage longer than that lost the hold. A failed first step
    // now goes on the recheck queue (visibility timeout and redrive: 5 receives × 480 s).
    // Broken variant tried: retryThroughQueue answering false at once — these tests fail.
    it('queues a first step that failed retryably as its own recheck, in the mode it started in', async () => {
      world.lifecycle.failHeartbeat = awsError(
        'Throttling',
        'Rate exceeded',
        'RecordLifecycleActionHeartbeat',
      );
      const result = await createGateHandler(world.deps)(terminateEvent());
      expect(result, 'no error: Lambda does not retry it').to.equal(undefined);
      expect(world.rechecks.scheduled.map((r) => r.delaySeconds)).to.deep.equal([10]);
      expect(world.rechecks.last()).to.include({
        themis: 'recheck',
        attempt: 1,
        heartbeats: 0,
        dryRun: false,
      });
      const queued = world.log.lines.find((l) => l.message.startsWith('failed first step queued'));
      expect(queued?.fields).to.include({ as: 'recheck', delaySeconds: 10 });

      // Auto Scaling is back; a dry-run tag set meanwhile does not change the chain's mode.
      delete world.lifecycle.failHeartbeat;
      world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
      world.clock.advance(10);
      const beats = world.lifecycle.heartbeats.length;
      const retried = await createGateHandler(world.deps)(
        sqsEvent([{ id: 'retry', body: world.rechecks.scheduled[0]!.body }]),
      );
      expect(retried).to.deep.equal({ batchItemFailures: [] });
      expect(world.lifecycle.heartbeats).to.have.length(beats + 1);
      expect(world.rechecks.last()).to.include({ attempt: 2, dryRun: false });
    });

    it('queues the event itself when the step failed before it read the hook', async () => {
      world.groups.fail = awsError(
        'ServiceUnavailable',
        'Auto Scaling is down',
        'DescribeAutoScalingGroups',
      );
      const event = terminateEvent();
      expect(await createGateHandler(world.deps)(event)).to.equal(undefined);
      expect(world.rechecks.scheduled).to.deep.equal([
        { body: JSON.stringify(event), delaySeconds: 10 },
      ]);
      delete world.groups.fail;
      world.clock.advance(10);
      await createGateHandler(world.deps)(
        sqsEvent([{ id: 'retry', body: world.rechecks.scheduled[0]!.body }]),
      );
      expect(world.rechecks.last()).to.include({ themis: 'recheck', attempt: 2 });
      expect(world.notifications.events()).to.deep.equal(['holding']);
    });

    it('throws so Lambda retries the event when the queue refuses the retry too', async () => {
      world.lifecycle.failHeartbeat = awsError(
        'Throttling',
        'Rate exceeded',
        'RecordLifecycleActionHeartbeat',
      );
      world.rechecks.fail = awsError('ServiceUnavailable', 'SQS is down', 'SendMessage');
      let thrown: unknown;
      await createGateHandler(world.deps)(terminateEvent()).catch((err: unknown) => (thrown = err));
      expect(thrown).to.have.property('name', 'UpstreamError');
      expect((thrown as Error).message).to.contain('Rate exceeded');
      expect(world.log.lines.map((l) => l.message)).to.include(
        'failed first step not queued; Lambda retries the event',
      );
    });

    it('does not throw for an unreadable event: it logs it and tells operators', async () => {
      const event = terminateEvent();
      const result = await createGateHandler(world.deps)({
        ...event,
        detail: { ...event.detail, EC2InstanceId: undefined },
      });
      expect(result).to.equal(undefined);
      const line = world.log.lines.find((l) => l.message === 'unreadable gate input');
      expect(line?.level).to.equal('error');
      expect(line?.fields.field).to.equal('detail.EC2InstanceId');
      expect(world.notifications.events()).to.deep.equal(['error']);
      expect(world.notifications.published[0]!.message).to.contain('detail.EC2InstanceId');
    });

    it("ignores a launch lifecycle event of a hook that is not themis's", async () => {
      const event = terminateEvent();
      const outcome = (await createGateHandler(world.deps)({
        ...event,
        'detail-type': 'EC2 Instance-launch Lifecycle Action',
        detail: { ...event.detail, LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' },
      })) as StepOutcome;
      expect(outcome.outcome).to.equal('ignored');
      expect(world.lifecycle.describeCalls).to.equal(0);
    });
  });

  describe('time', () => {
    let timers: sinon.SinonFakeTimers;
    const REMAINING_MS = 30_000;

    beforeEach(() => {
      timers = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    });
    afterEach(() => timers.restore());

    /** A Lambda context whose remaining time runs down on the (fake) clock. */
    function context() {
      const endsAt = Date.now() + REMAINING_MS;
      return { getRemainingTimeInMillis: () => endsAt - Date.now() };
    }

    /** Run the handler on fake time; when it settled, in ms after the start. */
    async function settleOnFakeTime<T>(
      work: Promise<T>,
    ): Promise<{ value?: T; error?: unknown; atMs: number }> {
      const started = Date.now();
      let settled: { value?: T; error?: unknown; atMs: number } | undefined;
      work.then(
        (value) => (settled = { value, atMs: Date.now() - started }),
        (error: unknown) => (settled = { error, atMs: Date.now() - started }),
      );
      // Far past the function's timeout: the handler must have settled long before.
      await timers.tickAsync(REMAINING_MS * 3);
      if (!settled) throw new Error('the handler never settled');
      return settled;
    }

    /** A recheck whose command has succeeded: the step needs no probe (no network on fake time). */
    function commandDoneRecheck(instanceId: string): string {
      const state: StepState = {
        ...initialState(Date.parse('2024-05-01T11:58:00Z'), {
          heartbeatTimeoutSeconds: 300,
          globalTimeoutSeconds: 30_000,
        }),
        dryRun: false,
        ssm: { commandId: 'cmd-1', sentAtMs: Date.parse('2024-05-01T11:59:00Z') },
      };
      world.commands.state = 'success';
      return encodeRecheck(
        {
          groupName: GROUP,
          hookName: HOOK,
          instanceId,
          token: TOKEN,
          transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        },
        state,
      );
    }

    // Broken variant tried: DescribeLifecycleHooks awaited without deadline.run → the handler
    // never settles and this test fails with 'the handler never settled'.
    it('returns before the function times out, with a record whose DescribeLifecycleHooks never answers in batchItemFailures', async () => {
      world.lifecycle.hangDescribe = true;
      const { value, atMs } = await settleOnFakeTime(
        createGateHandler(world.deps)(
          sqsEvent([
            { id: 'hangs', body: JSON.stringify(terminateEvent()) },
            { id: 'test', body: JSON.stringify(TEST_NOTIFICATION_MESSAGE) },
            { id: 'done', body: commandDoneRecheck(OTHER) },
          ]),
          context(),
        ),
      );
      expect((value as SqsBatchResponse).batchItemFailures).to.deep.equal([
        { itemIdentifier: 'hangs' },
      ]);
      expect(atMs).to.be.at.most(REMAINING_MS - INVOCATION_RESERVE_MS);
      expect(world.lifecycle.completions.map((c) => c.ref.instanceId)).to.deep.equal([OTHER]);
      const failed = world.log.lines.find((l) => l.message.startsWith('gate step failed'));
      expect(failed?.fields).to.include({ messageId: 'hangs', error: 'DeadlineExceededError' });
    });

    // Broken variant tried: Publish awaited without a deadline → never settles.
    it('completes a record whose Publish never answers in time, and queues its notice for a retry', async () => {
      world.notifications.hang = true;
      const { value, atMs } = await settleOnFakeTime(
        createGateHandler(world.deps)(
          sqsEvent([{ id: 'r', body: commandDoneRecheck(INSTANCE) }]),
          context(),
        ),
      );
      expect((value as SqsBatchResponse).batchItemFailures).to.deep.equal([]);
      expect(atMs).to.be.below(REMAINING_MS - INVOCATION_RESERVE_MS);
      expect(world.lifecycle.completions).to.have.length(1);
      expect(world.rechecks.last()).to.include({ themis: 'notice', attempts: 1 });
    });

    it('leaves a record for redelivery, in time, when neither SNS nor the queue answers after the completion', async () => {
      world.notifications.hang = true;
      world.rechecks.fail = awsError(
        'AWS.SimpleQueueService.NonExistentQueue',
        'gone',
        'SendMessage',
      );
      const { value, atMs } = await settleOnFakeTime(
        createGateHandler(world.deps)(
          sqsEvent([{ id: 'r', body: commandDoneRecheck(INSTANCE) }]),
          context(),
        ),
      );
      expect((value as SqsBatchResponse).batchItemFailures).to.deep.equal([
        { itemIdentifier: 'r' },
      ]);
      expect(atMs).to.be.below(REMAINING_MS - INVOCATION_RESERVE_MS);
    });

    it('gives a direct invocation the same deadline: a hung call fails the step in time, and the event is queued for a retry', async () => {
      world.lifecycle.hangDescribe = true;
      const { value, error, atMs } = await settleOnFakeTime(
        createGateHandler(world.deps)(terminateEvent(), context()),
      );
      expect(error).to.equal(undefined);
      expect(value).to.equal(undefined);
      expect(world.rechecks.scheduled).to.deep.equal([
        { body: JSON.stringify(terminateEvent()), delaySeconds: 10 },
      ]);
      expect(atMs).to.be.at.most(REMAINING_MS - INVOCATION_RESERVE_MS);
    });

    it('throws in time when neither the step nor its retry through the queue can be done', async () => {
      world.lifecycle.hangDescribe = true;
      world.rechecks.fail = awsError('ServiceUnavailable', 'SQS is down', 'SendMessage');
      const { error, atMs } = await settleOnFakeTime(
        createGateHandler(world.deps)(terminateEvent(), context()),
      );
      expect(error).to.be.instanceOf(DeadlineExceededError);
      expect(atMs).to.be.at.most(REMAINING_MS - INVOCATION_RESERVE_MS);
    });
  });

  describe('an SNS topic invoking the gate', () => {
    const snsRecord = (message: unknown) => ({
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: 'arn:aws:sns:us-east-1:123456789012:lifecycle:1',
      Sns: { ...snsEnvelope(message), MessageAttributes: {} },
    });

    it('handles the hook notification in the SNS event like the SQS forms', async () => {
      const outcomes = (await createGateHandler(world.deps)({
        Records: [snsRecord(hookMessage())],
      })) as StepOutcome[];
      expect(outcomes.map((o) => o.outcome)).to.deep.equal(['held']);
      expect(world.lifecycle.heartbeats.map((h) => h.token)).to.deep.equal([TOKEN]);
      expect(world.rechecks.scheduled).to.have.length(1);
    });

    it('drops the test notification in the SNS event', async () => {
      const outcomes = (await createGateHandler(world.deps)({
        Records: [snsRecord(TEST_NOTIFICATION_MESSAGE)],
      })) as StepOutcome[];
      expect(outcomes.map((o) => o.outcome)).to.deep.equal(['ignored']);
      expect(world.lifecycle.describeCalls).to.equal(0);
    });

    it('queues a record whose first step failed retryably, like a direct event', async () => {
      world.lifecycle.failHeartbeat = awsError(
        'Throttling',
        'Rate exceeded',
        'RecordLifecycleActionHeartbeat',
      );
      const outcomes = await createGateHandler(world.deps)({ Records: [snsRecord(hookMessage())] });
      expect(outcomes).to.deep.equal([]);
      expect(world.rechecks.last()).to.include({ themis: 'recheck', attempt: 1 });
    });

    it('throws a retryable failure so Lambda retries the SNS delivery when the queue is down too', async () => {
      world.lifecycle.failHeartbeat = awsError(
        'Throttling',
        'Rate exceeded',
        'RecordLifecycleActionHeartbeat',
      );
      world.rechecks.fail = awsError('ServiceUnavailable', 'SQS is down', 'SendMessage');
      let thrown: unknown;
      await createGateHandler(world.deps)({ Records: [snsRecord(hookMessage())] }).catch(
        (err: unknown) => (thrown = err),
      );
      expect(thrown).to.have.property('name', 'UpstreamError');
    });
  });

  describe('recheck messages that fail the schema', () => {
    it('are batch item failures and touch no instance', async () => {
      const good = JSON.parse(
        encodeRecheck(
          {
            groupName: GROUP,
            hookName: HOOK,
            instanceId: INSTANCE,
            token: TOKEN,
            transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          },
          initialState(Date.parse('2024-05-01T11:58:00Z'), {
            heartbeatTimeoutSeconds: 300,
            globalTimeoutSeconds: 30_000,
          }),
        ),
      );
      const response = (await createGateHandler(world.deps)(
        sqsEvent([
          {
            id: 'wildcard-id',
            body: JSON.stringify({ ...good, action: { ...good.action, instanceId: 'i-*' } }),
          },
          { id: 'future', body: JSON.stringify({ ...good, firstSeen: '2030-01-01T00:00:00Z' }) },
          { id: 'huge-count', body: JSON.stringify({ ...good, unknowns: 1e9 }) },
        ]),
      )) as SqsBatchResponse;
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).to.have.members([
        'wildcard-id',
        'future',
        'huge-count',
      ]);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(worker.requests).to.deep.equal([]);
    });
  });
});
