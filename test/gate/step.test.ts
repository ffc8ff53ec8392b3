import { expect } from 'chai';
import { InvalidEventError } from '../../lib/errors.js';
import { AFTER_PROBE_RESERVE_MS } from '../../lib/gate/budget.js';
import { outcomeId } from '../../lib/gate/notices.js';
import { chainState, gateStep, OutOfTimeError, type StepOutcome } from '../../lib/gate/step.js';
import type { StepState } from '../../lib/gate/state.js';
import { Deadline } from '../../lib/time.js';
import { closedPort, startWorker, type Worker } from '../helpers/http-workers.js';
import {
  awsError,
  firstRecheck,
  GROUP,
  HOOK,
  hookMessage,
  INSTANCE,
  makeWorld,
  snsEnvelope,
  terminateEvent,
  TEST_NOTIFICATION_MESSAGE,
  TOKEN,
  type World,
} from './fakes.js';

const BUSY = { kind: 'answer', body: 'BUSY' } as const;
const IDLE = { kind: 'answer', body: 'idle\n' } as const;

describe('gate step', () => {
  let worker: Worker;
  let world: World;

  /** A world whose instance INSTANCE is the loopback worker. */
  function setUp(
    env: Record<string, string> = {},
    options: { heartbeatTimeoutSeconds?: number } = {},
  ) {
    world = makeWorld({ env: { THEMIS_METRICS_PORT: String(worker.port), ...env }, ...options });
    world.groups.addresses.set(INSTANCE, worker.address);
    return world;
  }

  /** Deliver the last scheduled recheck, as the queue would after its delay. */
  async function deliverRecheck(advanceSeconds?: number): Promise<StepOutcome> {
    const last = world.rechecks.scheduled.at(-1);
    if (!last) throw new Error('nothing scheduled');
    world.clock.advance(advanceSeconds ?? last.delaySeconds);
    return gateStep(last.body, world.deps);
  }

  beforeEach(async () => {
    worker = await startWorker(BUSY);
  });
  afterEach(async () => {
    await worker.close();
  });

  describe('a busy instance', () => {
    it('is heartbeated with its token, then rechecked later with the whole state', async () => {
      setUp();
      const outcome = await gateStep(terminateEvent(), world.deps);

      expect(worker.requests).to.deep.equal(['/work_status']);
      expect(world.lifecycle.heartbeats).to.deep.equal([
        { groupName: GROUP, hookName: HOOK, instanceId: INSTANCE, token: TOKEN },
      ]);
      expect(world.rechecks.scheduled).to.have.length(1);
      // THEMIS_RECHECK_SECONDS less the queue's one-second delivery allowance
      expect(world.rechecks.scheduled[0]!.delaySeconds).to.equal(9);
      expect(world.rechecks.last()).to.deep.equal(firstRecheck());
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(outcome).to.include({
        outcome: 'held',
        decision: 'hold',
        delaySeconds: 9,
        attempt: 1,
      });
    });

    it('tells operators once, on the first busy step only', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      await deliverRecheck();
      await deliverRecheck();
      expect(world.notifications.events()).to.deep.equal(['holding']);
      expect(world.notifications.published[0]!.subject).to.equal(
        `themis: holding ${INSTANCE} in ${GROUP} (busy)`,
      );
      expect(world.lifecycle.heartbeats).to.have.length(3);
      expect(world.rechecks.last()).to.include({ attempt: 4 });
    });

    it('reads the hook once, on the first step, and carries its timing in the rechecks', async () => {
      setUp({ THEMIS_RECHECK_SECONDS: '30' }, { heartbeatTimeoutSeconds: 40 });
      await gateStep(terminateEvent(), world.deps);
      await deliverRecheck();
      expect(world.lifecycle.describeCalls).to.equal(1);
      // Half the 40 s HeartbeatTimeout, below THEMIS_RECHECK_SECONDS.
      // (less the queue's one-second delivery allowance)
      expect(world.rechecks.scheduled.map((r) => r.delaySeconds)).to.deep.equal([19, 19]);
    });

    it('schedules no recheck when the heartbeat fails, and throws so the delivery is retried', async () => {
      setUp();
      world.lifecycle.failHeartbeat = awsError(
        'Throttling',
        'Rate exceeded',
        'RecordLifecycleActionHeartbeat',
      );
      let thrown: unknown;
      await gateStep(terminateEvent(), world.deps).catch((err: unknown) => (thrown = err));
      expect(thrown).to.have.property('name', 'UpstreamError');
      expect(world.rechecks.scheduled).to.deep.equal([]);
      expect(world.notifications.published).to.deep.equal([]);
    });

    it('stops the chain with a notice when the action has already ended elsewhere', async () => {
      setUp();
      world.lifecycle.ended = true;
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({ outcome: 'gone', cause: 'ended-elsewhere' });
      expect(world.rechecks.scheduled).to.deep.equal([]);
      expect(world.notifications.events()).to.deep.equal(['ended']);
      const notice = world.notifications.published[0]!;
      expect(notice.subject).to.contain('already completed');
      expect(notice.message).to.contain('themis had decided: hold (busy)');
      const stopped = world.log.lines.find((l) => l.message === 'gate stopped');
      expect(stopped?.fields).to.include({
        instanceId: INSTANCE,
        group: GROUP,
        cause: 'ended-elsewhere',
      });
    });

    it('throws when the recheck cannot be sent (after a successful heartbeat)', async () => {
      setUp();
      world.rechecks.fail = awsError('QueueDoesNotExist', 'no queue', 'SendMessage');
      let thrown: unknown;
      await gateStep(terminateEvent(), world.deps).catch((err: unknown) => (thrown = err));
      expect(thrown).to.have.property('name', 'UpstreamError');
      expect(world.lifecycle.heartbeats).to.have.length(1);
    });
  });

  describe('an idle instance', () => {
    it('is released with CONTINUE and its token, and operators are told after how long', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      worker.set(IDLE);
      const outcome = await deliverRecheck(42 * 60);
      expect(world.lifecycle.completions).to.deep.equal([
        {
          ref: { groupName: GROUP, hookName: HOOK, instanceId: INSTANCE, token: TOKEN },
          result: 'CONTINUE',
        },
      ]);
      expect(world.lifecycle.heartbeats).to.have.length(1);
      expect(world.rechecks.scheduled).to.have.length(1);
      expect(outcome).to.include({ outcome: 'completed', decision: 'release', result: 'CONTINUE' });
      const released = world.notifications.published.at(-1)!;
      expect(released.subject).to.equal(`themis: released ${INSTANCE} in ${GROUP} after 42 min`);
      expect(released.attributes).to.deep.equal({
        event: 'released',
        group: GROUP,
        'outcome-id': outcomeId({
          groupName: GROUP,
          hookName: HOOK,
          instanceId: INSTANCE,
          token: TOKEN,
        }),
      });
    });

    it('is released on the first step when it is idle already', async () => {
      setUp();
      worker.set(IDLE);
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.outcome).to.equal('completed');
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.notifications.events()).to.deep.equal(['released']);
    });

    it('produces one "released" notice when the same event is delivered twice, and a recognisable duplicate', async () => {
      setUp();
      worker.set(IDLE);
      const first = await gateStep(terminateEvent(), world.deps);
      const second = await gateStep(terminateEvent(), world.deps);
      expect([first.outcome, second.outcome]).to.deep.equal(['completed', 'gone']);
      expect(world.lifecycle.completions).to.have.length(2);
      expect(world.notifications.events()).to.deep.equal(['released', 'ended']);
      const ids = world.notifications.published.map((n) => n.attributes['outcome-id']);
      expect(ids[0]).to.be.a('string').and.equal(ids[1]);
    });

    it('is still released when the notice cannot be published', async () => {
      setUp();
      worker.set(IDLE);
      world.notifications.fail = awsError('AuthorizationError', 'not allowed', 'Publish');
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.outcome).to.equal('completed');
      expect(world.lifecycle.completions).to.have.length(1);
      expect(world.notifications.attempts).to.equal(1);
      const line = world.log.lines.find((l) => l.message.startsWith('notification not sent'));
      expect(line?.level).to.equal('error');
      expect(line?.fields).to.include({ event: 'released', instanceId: INSTANCE });
    });

    it('is released without a topic too: the outcome is only logged', async () => {
      setUp();
      worker.set(IDLE);
      delete world.deps.notifications;
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({ outcome: 'completed', decision: 'release' });
      expect(outcome).to.not.have.property('notice');
      const completed = world.log.lines.find((l) => l.message === 'lifecycle action completed');
      expect(completed?.fields).to.include({ instanceId: INSTANCE, result: 'CONTINUE' });
    });

    it('throws when CompleteLifecycleAction fails, and sends no notice', async () => {
      setUp();
      worker.set(IDLE);
      world.lifecycle.failComplete = awsError(
        'Throttling',
        'Rate exceeded',
        'CompleteLifecycleAction',
      );
      let thrown: unknown;
      await gateStep(terminateEvent(), world.deps).catch((err: unknown) => (thrown = err));
      expect(thrown).to.have.property('name', 'UpstreamError');
      expect(world.notifications.published).to.deep.equal([]);
    });
  });

  describe('an instance that does not answer', () => {
    it('is held, then released as unreachable after THEMIS_UNKNOWN_LIMIT answers in a row', async () => {
      setUp({ THEMIS_METRICS_PORT: String(await closedPort()) });
      const outcomes = [await gateStep(terminateEvent(), world.deps)];
      outcomes.push(await deliverRecheck());
      outcomes.push(await deliverRecheck());
      expect(outcomes.map((o) => o.decision)).to.deep.equal([
        'hold',
        'hold',
        'release-unreachable',
      ]);
      expect(world.lifecycle.heartbeats).to.have.length(2);
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
      expect(world.notifications.events()).to.deep.equal(['released-unreachable']);
      expect(world.notifications.published[0]!.message).to.contain('connection refused');
    });

    it('starts counting again after a busy answer', async () => {
      setUp();
      worker.set({ kind: 'answer', body: 'oops', status: 500 });
      await gateStep(terminateEvent(), world.deps);
      await deliverRecheck();
      worker.set(BUSY);
      await deliverRecheck();
      worker.set({ kind: 'answer', body: 'oops', status: 500 });
      await deliverRecheck();
      const outcome = await deliverRecheck();
      expect(outcome.decision).to.equal('hold');
      expect(world.rechecks.last()).to.include({ unknowns: 2 });
    });

    it('counts an instance without a private address as unknown', async () => {
      setUp({ THEMIS_UNKNOWN_LIMIT: '1' });
      world.groups.addresses.clear();
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.decision).to.equal('release-unreachable');
      expect(outcome.reason).to.contain('no private address');
    });
  });

  describe('the deadline', () => {
    it('completes with THEMIS_ON_DEADLINE and warns operators when the instance is still busy', async () => {
      setUp({ THEMIS_MAX_WAIT_SECONDS: '600', THEMIS_ON_DEADLINE: 'ABANDON' });
      await gateStep(terminateEvent(), world.deps);
      // Rechecks every 9 s (10 less the queue's delivery allowance), the last one shortened to
      // land on the deadline: 66 × 9 s = 594 s, then 6 s.
      for (let i = 0; i < 66; i++) await deliverRecheck();
      expect(world.lifecycle.completions).to.deep.equal([]);
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ outcome: 'completed', decision: 'deadline', result: 'ABANDON' });
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
      const warning = world.notifications.published.at(-1)!;
      expect(warning.attributes.event).to.equal('deadline');
      expect(warning.subject).to.match(
        /^themis: WARNING cut .* at deadline after 10 min \(ABANDON\)$/,
      );
      expect(warning.message).to.contain('Last answer: busy');
    });

    it('counts from the time of the event, not from when the gate first ran', async () => {
      setUp({ THEMIS_MAX_WAIT_SECONDS: '600' });
      world.clock.set('2024-05-01T12:10:00Z');
      const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
      expect(outcome.decision).to.equal('deadline');
    });

    it('counts from now when the event time lies in the future (clock skew)', async () => {
      setUp({ THEMIS_MAX_WAIT_SECONDS: '600' });
      await gateStep(terminateEvent({ time: '2024-05-01T13:00:00Z' }), world.deps);
      expect(world.rechecks.last().firstSeen).to.equal('2024-05-01T12:00:00.000Z');
    });
  });

  describe('the pre-termination command', () => {
    const SSM = {
      THEMIS_SSM_DOCUMENT: 'AWS-RunShellScript',
      THEMIS_SSM_PARAMETERS: '{"commands":"tar czf /tmp/logs.tgz /var/log"}',
      THEMIS_SSM_TIMEOUT_SECONDS: '300',
      THEMIS_ON_SSM_FAILURE: 'ABANDON',
    };

    it('is sent once the instance is idle, tracked on later steps without probing, then the instance is released', async () => {
      setUp(SSM);
      worker.set(IDLE);
      const first = await gateStep(terminateEvent(), world.deps);
      expect(first).to.include({ outcome: 'held', decision: 'run-ssm' });
      expect(world.commands.sent).to.deep.equal([
        {
          instanceId: INSTANCE,
          documentName: 'AWS-RunShellScript',
          parameters: { commands: ['tar czf /tmp/logs.tgz /var/log'] },
          timeoutSeconds: 300,
        },
      ]);
      expect(world.lifecycle.heartbeats).to.have.length(1);
      expect(world.rechecks.last().ssm).to.deep.equal({
        commandId: 'cmd-1',
        sentAt: '2024-05-01T12:00:00.000Z',
        documentName: 'AWS-RunShellScript',
        timeoutSeconds: 300,
      });
      expect(world.lifecycle.completions).to.deep.equal([]);

      const waiting = await deliverRecheck();
      expect(waiting).to.include({ outcome: 'held', decision: 'wait-ssm' });
      expect(world.lifecycle.heartbeats).to.have.length(2);
      expect(world.rechecks.last().ssm).to.include({ commandId: 'cmd-1' });

      world.commands.state = 'success';
      const done = await deliverRecheck();
      expect(done).to.include({ outcome: 'completed', decision: 'release', result: 'CONTINUE' });
      expect(world.commands.statusCalls).to.deep.equal(['cmd-1', 'cmd-1']);
      expect(world.commands.sent).to.have.length(1);
      // Probed once, on the first step only.
      expect(worker.requests).to.have.length(1);
      expect(world.notifications.events()).to.deep.equal(['released']);
    });

    it('applies THEMIS_ON_SSM_FAILURE when the command fails, and says why', async () => {
      setUp(SSM);
      worker.set(IDLE);
      await gateStep(terminateEvent(), world.deps);
      world.commands.state = 'failed';
      world.commands.detail = 'Failed (exit 2); stderr: no space left';
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ decision: 'ssm-failed', result: 'ABANDON' });
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
      const notice = world.notifications.published.at(-1)!;
      expect(notice.attributes.event).to.equal('ssm-failed');
      expect(notice.message).to.contain('no space left');
    });

    it('applies THEMIS_ON_SSM_FAILURE when the command does not finish in time', async () => {
      setUp(SSM);
      worker.set(IDLE);
      await gateStep(terminateEvent(), world.deps);
      for (let i = 0; i < 33; i++) await deliverRecheck(); // 33 × 9 s = 297 s < 5 min
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(world.commands.cancelled).to.deep.equal([]);
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ decision: 'ssm-failed', result: 'ABANDON' });
      expect(outcome.reason).to.contain('did not finish within 5 min');
      expect(world.commands.cancelled).to.deep.equal([
        { commandId: 'cmd-1', instanceId: INSTANCE },
      ]);
      expect(world.notifications.published.at(-1)!.message).to.contain(
        'themis cancelled command cmd-1',
      );
    });

    it('is not sent when the document does not exist: the failure policy applies at once', async () => {
      setUp(SSM);
      worker.set(IDLE);
      world.commands.documents.clear();
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({
        outcome: 'completed',
        decision: 'ssm-failed',
        result: 'ABANDON',
      });
      expect(outcome.reason).to.contain('does not exist');
      expect(world.commands.sent).to.deep.equal([]);
      expect(world.notifications.events()).to.deep.equal(['ssm-failed']);
    });

    it('is not sent when the instance is not managed by SSM', async () => {
      setUp(SSM);
      worker.set(IDLE);
      world.commands.managed.clear();
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({ decision: 'ssm-failed', result: 'ABANDON' });
      expect(outcome.reason).to.contain('not managed by SSM');
      expect(world.commands.sent).to.deep.equal([]);
    });

    it('is not sent when the action has already ended', async () => {
      setUp(SSM);
      worker.set(IDLE);
      world.lifecycle.ended = true;
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.outcome).to.equal('gone');
      expect(world.commands.sent).to.deep.equal([]);
    });
  });

  describe('a dry run', () => {
    it('observes and notifies but never heartbeats or completes', async () => {
      setUp({ THEMIS_DRY_RUN: 'true' });
      const held = await gateStep(terminateEvent(), world.deps);
      expect(held).to.include({ outcome: 'held', dryRun: true });
      worker.set(IDLE);
      const observed = await deliverRecheck();
      expect(observed).to.include({ outcome: 'observed', decision: 'release', dryRun: true });
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(world.notifications.published.map((n) => n.subject)).to.deep.equal([
        `[dry run] themis: would be holding ${INSTANCE} in ${GROUP} (busy)`,
        `[dry run] themis: would have released ${INSTANCE} in ${GROUP} after 9 s`,
      ]);
    });

    it('stops watching once the hook has timed out on its own', async () => {
      setUp(
        { THEMIS_DRY_RUN: 'true', THEMIS_RECHECK_SECONDS: '30' },
        { heartbeatTimeoutSeconds: 60 },
      );
      await gateStep(terminateEvent(), world.deps);
      await deliverRecheck(); // 29 s
      await deliverRecheck(); // 58 s: not yet
      const outcome = await deliverRecheck(); // 87 s
      expect(outcome).to.include({ outcome: 'observed', decision: 'expired' });
      expect(world.rechecks.scheduled).to.have.length(3);
      expect(world.notifications.published.at(-1)!.subject).to.contain('stopped watching');
    });

    it('can be switched on for one group by its themis:dry-run tag', async () => {
      setUp();
      world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
      await gateStep(terminateEvent(), world.deps);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.rechecks.scheduled).to.have.length(1);
    });
  });

  describe('probe settings', () => {
    it("come from the hook's NotificationMetadata over the group's tags over the environment", async () => {
      const elsewhere = await startWorker({ kind: 'answer', body: 'WORKING' });
      try {
        setUp({ THEMIS_METRICS_PORT: String(await closedPort()) });
        world.groups.tags.set(GROUP, {
          'themis:metrics-port': String(await closedPort()),
          'themis:busy-value': 'WORKING',
        });
        const metadata = JSON.stringify({ metricsPort: elsewhere.port, busyURL: 'jobs/current' });
        const outcome = await gateStep(terminateEvent({ metadata }), world.deps);
        expect(outcome.decision).to.equal('hold');
        expect(elsewhere.requests).to.deep.equal(['/jobs/current']);
      } finally {
        await elsewhere.close();
      }
    });

    it('fall back for a bad metadata value, and operators hear about it once', async () => {
      setUp();
      const metadata = '{"metricsPort": "nine thousand"}';
      const first = await gateStep(terminateEvent({ metadata }), world.deps);
      await deliverRecheck();
      expect(first.decision).to.equal('hold');
      expect(worker.requests).to.have.length(2);
      expect(world.notifications.events()).to.deep.equal(['error', 'holding']);
      expect(world.notifications.published[0]!.message).to.contain('metricsPort');
      const errors = world.log.lines.filter((l) => l.message === 'bad gate settings');
      expect(errors).to.have.length(2);
      expect(errors[0]!.level).to.equal('error');
    });

    it('read the group tags on every step (they may change while the instance waits)', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      world.groups.tags.set(GROUP, { 'themis:busy-url': '/other' });
      await deliverRecheck();
      expect(worker.requests).to.deep.equal(['/work_status', '/other']);
      expect(world.groups.describeCalls).to.deep.equal([[GROUP], [GROUP]]);
    });
  });

  describe('inputs', () => {
    it('drops the test notification without touching anything', async () => {
      setUp();
      const outcome = await gateStep(JSON.stringify(TEST_NOTIFICATION_MESSAGE), world.deps);
      expect(outcome).to.include({ outcome: 'ignored', reason: 'test notification' });
      expect(worker.requests).to.deep.equal([]);
      expect(world.lifecycle.describeCalls).to.equal(0);
      expect(world.log.lines.map((l) => l.message)).to.deep.equal(['gate input ignored']);
    });

    it('handles the hook notification in an SNS envelope like the EventBridge event', async () => {
      setUp();
      const outcome = await gateStep(JSON.stringify(snsEnvelope(hookMessage())), world.deps);
      expect(outcome).to.include({ outcome: 'held', source: 'hook-notification' });
      expect(world.lifecycle.heartbeats[0]!.token).to.equal(TOKEN);
      expect(world.rechecks.last().firstSeen).to.equal('2024-05-01T11:59:30.000Z');
    });

    it('throws InvalidEventError for a malformed event and calls nothing', async () => {
      setUp();
      const event = terminateEvent();
      let thrown: unknown;
      await gateStep(
        { ...event, detail: { ...event.detail, LifecycleHookName: '' } },
        world.deps,
      ).catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(InvalidEventError);
      expect(world.lifecycle.describeCalls).to.equal(0);
    });

    it('stops when the hook no longer exists (deleting a hook ends its actions)', async () => {
      setUp();
      world.lifecycle.hooks.clear();
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.outcome).to.equal('gone');
      expect(worker.requests).to.deep.equal([]);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
    });
  });

  describe('time and logs', () => {
    it('leaves the step for a retry when the invocation has too little time left', async () => {
      setUp();
      let thrown: unknown;
      await gateStep(terminateEvent(), world.deps, { deadline: Deadline.after(3000) }).catch(
        (err: unknown) => (thrown = err),
      );
      expect(thrown).to.be.instanceOf(OutOfTimeError);
      expect(worker.requests).to.deep.equal([]);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
    });

    it('shortens the probe so the calls after it still fit in the step', async () => {
      setUp();
      worker.set({ kind: 'hang' });
      const outcome = await gateStep(terminateEvent(), world.deps, {
        deadline: Deadline.after(AFTER_PROBE_RESERVE_MS + 400),
      });
      const ms = Number(/timeout after (\d+) ms/.exec(outcome.reason)?.[1]);
      expect(ms).to.be.within(300, 400);
      expect(outcome.outcome).to.equal('held');
    });

    it('logs one decision line with instance, group and reason, and never the token', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      worker.set(IDLE);
      await deliverRecheck();
      const decisions = world.log.lines.filter((l) => l.message === 'gate decision');
      expect(decisions.map((l) => l.fields.decision)).to.deep.equal(['hold', 'release']);
      expect(decisions[0]!.fields).to.include({
        instanceId: INSTANCE,
        group: GROUP,
        hook: HOOK,
        reason: 'busy',
        probe: 'busy',
        attempt: 1,
        delaySeconds: 9,
      });
      expect(JSON.stringify(world.log.lines)).to.not.contain(TOKEN);
      expect(JSON.stringify(world.notifications.published)).to.not.contain(TOKEN);
    });
  });

  describe('heartbeats only when needed', () => {
    // HeartbeatTimeout 300 s, margin 200 s: a heartbeat at most every 100 s of hold.
    const env = { THEMIS_HEARTBEAT_MARGIN_SECONDS: '200' };

    it('probes every recheck but heartbeats only when the HeartbeatTimeout comes within the margin', async () => {
      setUp(env);
      await gateStep(terminateEvent(), world.deps);
      for (let i = 0; i < 35; i++) await deliverRecheck();
      // 36 probes over 360 s of hold; heartbeats when 100 s have passed since the last one
      // (the first one earlier by the action's phase).
      expect(worker.requests).to.have.length(36);
      expect(world.lifecycle.heartbeats.length).to.be.within(3, 4);
      const last = world.rechecks.last();
      expect(Date.parse(last.lastHeartbeat as string)).to.be.above(
        Date.parse('2024-05-01T12:04:00Z'),
      );
      expect(last.heartbeats).to.equal(world.lifecycle.heartbeats.length);
    });

    it('does not heartbeat on the first step (the hook has just started its timer)', async () => {
      setUp(env);
      await gateStep(terminateEvent(), world.deps);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.rechecks.last()).to.include({
        lastHeartbeat: '2024-05-01T12:00:00.000Z',
        heartbeats: 0,
      });
    });
  });

  // Issue 8, item 4: on main, tagging a live group themis:dry-run=true while a busy instance
  // had been held past its HeartbeatTimeout ended the chain with a false "hook timed out";
  // nothing heartbeated any more and the busy instance was terminated.
  describe('a mode change mid-hold', () => {
    it('keeps a live hold live when the group is tagged dry-run', async () => {
      setUp({}, { heartbeatTimeoutSeconds: 60 });
      await gateStep(terminateEvent(), world.deps);
      for (let i = 0; i < 10; i++) await deliverRecheck(); // 100 s: past the 60 s timeout
      world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
      const beats = world.lifecycle.heartbeats.length;
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ outcome: 'held', decision: 'hold', dryRun: false });
      expect(world.lifecycle.heartbeats.length).to.equal(beats + 1);
      expect(world.notifications.events()).to.not.include('deadline');
      worker.set(IDLE);
      const released = await deliverRecheck();
      expect(released).to.include({ outcome: 'completed', decision: 'release' });
      expect(world.lifecycle.completions).to.have.length(1);
    });

    it('keeps a dry run a dry run when the tag is removed', async () => {
      setUp({ THEMIS_DRY_RUN: 'true' });
      await gateStep(terminateEvent(), world.deps);
      world.deps.config = {
        ...world.deps.config,
        settings: { ...world.deps.config.settings, dryRun: false },
      };
      worker.set(IDLE);
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ outcome: 'observed', dryRun: true });
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
    });
  });

  // Issue 8 (heartbeat-gap in the simulator, seeds 3293 and 6320): a live first step sent its
  // "holding" notice and failed before its recheck (SQS down); Lambda retried the event a
  // minute later, after the group was tagged dry-run, and the retry started the chain in dry
  // run — nothing heartbeated, the hook expired, the busy instance was terminated.
  // Broken variant tried: `chainDryRun` ignoring the age (`pinned ?? settingDryRun`) — the
  // first test fails (dryRun: true, no heartbeat); with the age rule but a threshold at the
  // first step's budget (76 s) instead of Lambda's retry wait, the first test fails too.
  describe('a first step that may be a retry', () => {
    it('keeps the hold live when the group was tagged dry-run after the failed first attempt', async () => {
      setUp({}, { heartbeatTimeoutSeconds: 120 });
      world.rechecks.fail = awsError('ServiceUnavailable', 'SQS is down', 'SendMessage');
      await gateStep(terminateEvent(), world.deps).catch(() => undefined);
      expect(world.notifications.events()).to.deep.equal(['holding']);
      expect(world.rechecks.scheduled).to.deep.equal([]);
      // Lambda's first retry of the event comes a minute after the failure.
      world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
      delete world.rechecks.fail;
      world.clock.advance(61);
      const beats = world.lifecycle.heartbeats.length;
      const retried = await gateStep(terminateEvent(), world.deps);
      // Every step of a hook this short heartbeats (its timeout is below the margin).
      expect(world.lifecycle.heartbeats).to.have.length(beats + 1);
      expect(retried).to.include({ outcome: 'held', decision: 'hold', dryRun: false });
      expect(world.rechecks.last()).to.include({ dryRun: false });
      const warned = world.log.lines.find((l) => l.message.startsWith('dry run not applied'));
      expect(warned?.fields).to.include({ eventAgeSeconds: 61 });
      // The chain goes on as a live one, and releases the instance once idle.
      worker.set(IDLE);
      expect(await deliverRecheck()).to.include({ outcome: 'completed', decision: 'release' });
    });

    it('still starts a fresh action in dry run when the group is tagged dry-run', async () => {
      setUp();
      world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
      // Delivered late (a busy Lambda queue), but sooner than any retry can come.
      world.clock.advance(45);
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({ outcome: 'held', dryRun: true });
      expect(world.rechecks.last()).to.include({ dryRun: true });
      worker.set(IDLE);
      expect(await deliverRecheck()).to.include({ outcome: 'observed', dryRun: true });
      expect(world.lifecycle.heartbeats).to.deep.equal([]);
      expect(world.lifecycle.completions).to.deep.equal([]);
    });

    it('keeps the mode a recheck carries, however old the action', async () => {
      setUp({ THEMIS_DRY_RUN: 'true' });
      await gateStep(terminateEvent(), world.deps);
      worker.set(IDLE);
      const outcome = await deliverRecheck(600);
      expect(outcome).to.include({ outcome: 'observed', dryRun: true });
    });
  });

  describe('a command in flight without SSM access', () => {
    it('is given up with a notice, and probing resumes in the same step', async () => {
      setUp();
      const body = JSON.stringify(
        firstRecheck(undefined, {
          ssm: { commandId: 'cmd-9', sentAt: '2024-05-01T12:00:00.000Z' },
        }),
      );
      delete world.deps.commands;
      world.clock.advance(10);
      const outcome = await gateStep(body, world.deps);
      expect(outcome).to.include({ outcome: 'held', decision: 'hold' });
      expect(worker.requests).to.deep.equal(['/work_status']);
      expect(world.notifications.events()).to.deep.equal(['error']);
      expect(world.notifications.published[0]!.message).to.contain('cmd-9').and.contain('probing');
      expect(world.rechecks.last()).to.not.have.property('ssm');
    });
  });

  describe('NotificationMetadata that is plain text', () => {
    it('is opaque: no error notice, the other layers decide', async () => {
      setUp();
      const outcome = await gateStep(
        terminateEvent({ metadata: 'drain the queue first' }),
        world.deps,
      );
      expect(outcome.decision).to.equal('hold');
      expect(world.notifications.events()).to.deep.equal(['holding']);
      expect(world.log.lines.filter((l) => l.message === 'bad gate settings')).to.deep.equal([]);
    });
  });

  describe('an action that ends without the gate', () => {
    it('says the hook was deleted when it no longer exists mid-hold', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      world.lifecycle.hooks.clear();
      world.lifecycle.ended = true;
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ outcome: 'gone', cause: 'hook-deleted' });
      const notice = world.notifications.published.at(-1)!;
      expect(notice.attributes.event).to.equal('ended');
      expect(notice.subject).to.contain('hook deleted');
    });

    it('says the action timed out when the gate was away longer than the HeartbeatTimeout', async () => {
      setUp();
      await gateStep(terminateEvent(), world.deps);
      world.lifecycle.ended = true;
      const outcome = await deliverRecheck(400); // an outage: 400 s > 300 s HeartbeatTimeout
      expect(outcome).to.include({ outcome: 'gone', cause: 'timed-out' });
      const notice = world.notifications.published.at(-1)!;
      expect(notice.subject).to.contain('TIMED OUT');
      expect(notice.message).to.contain('its work may have been cut');
    });

    it('says the hook was deleted before the first step, instead of stopping silently', async () => {
      setUp();
      world.lifecycle.hooks.clear();
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome).to.include({ outcome: 'gone', cause: 'hook-deleted' });
      expect(world.notifications.events()).to.deep.equal(['ended']);
      expect(worker.requests).to.deep.equal([]);
    });

    it('follows a step that died after CompleteLifecycleAction with a notice from its retry', async () => {
      setUp();
      worker.set(IDLE);
      world.notifications.fail = awsError('InternalError', 'SNS is down', 'Publish');
      world.rechecks.fail = awsError('InternalError', 'SQS is down', 'SendMessage');
      const event = terminateEvent();
      const err = await gateStep(event, world.deps).catch((e: unknown) => e);
      expect(err).to.have.property('name', 'UpstreamError');
      expect(world.lifecycle.completions).to.have.length(1);
      delete world.notifications.fail;
      delete world.rechecks.fail;
      const retried = await gateStep(event, world.deps);
      expect(retried).to.include({ outcome: 'gone', cause: 'ended-elsewhere' });
      expect(world.notifications.events()).to.deep.equal(['ended']);
      expect(world.notifications.published[0]!.message).to.contain('earlier attempt of this step');
    });
  });

  describe('a notice SNS does not take', () => {
    it('is retried through the recheck queue with growing delays until SNS takes it', async () => {
      setUp();
      worker.set(IDLE);
      world.notifications.fail = awsError('InternalError', 'SNS is down', 'Publish');
      const outcome = await gateStep(terminateEvent(), world.deps);
      expect(outcome.outcome).to.equal('completed');
      const delays = [world.rechecks.scheduled[0]!.delaySeconds];
      // 15 minutes of SNS outage and more.
      for (let i = 0; i < 6; i++) {
        const again = await deliverRecheck();
        expect(again.outcome).to.equal('notice-pending');
        delays.push(world.rechecks.scheduled.at(-1)!.delaySeconds);
      }
      expect(delays).to.deep.equal([30, 60, 120, 240, 480, 900, 900]);
      delete world.notifications.fail;
      const delivered = await deliverRecheck();
      expect(delivered.outcome).to.equal('notified');
      expect(world.notifications.events()).to.deep.equal(['released']);
      expect(world.notifications.published[0]!.attributes['outcome-id']).to.be.a('string');
    });

    it('is left to the dead-letter queue once past the retry limit, never dropped', async () => {
      setUp();
      worker.set(IDLE);
      world.notifications.fail = awsError('InternalError', 'SNS is down', 'Publish');
      await gateStep(terminateEvent(), world.deps);
      const err = await deliverRecheck(25 * 3600).catch((e: unknown) => e);
      expect(err).to.have.property('name', 'NoticeUndeliverableError');
    });

    it('of a holding notice is tried again on the next step, without failing this one', async () => {
      setUp();
      world.notifications.hang = true;
      const first = await gateStep(terminateEvent(), world.deps, {
        deadline: Deadline.after(AFTER_PROBE_RESERVE_MS + 3000),
      });
      expect(first.outcome).to.equal('held');
      expect(world.rechecks.last()).to.include({ holdingNotified: false });
      world.notifications.hang = false;
      await deliverRecheck();
      expect(world.notifications.events()).to.deep.equal(['holding']);
      expect(world.rechecks.last()).to.include({ holdingNotified: true });
    });
  });

  describe('untrusted text', () => {
    it('reaches a notice without control characters and bounded, from a probe body', async () => {
      setUp({ THEMIS_UNKNOWN_LIMIT: '1' });
      worker.set({
        kind: 'answer',
        body: `evil\u001b[31m\r\nSubject: x${'y'.repeat(5000)}`,
        status: 500,
      });
      await gateStep(terminateEvent(), world.deps);
      const notice = world.notifications.published.at(-1)!;
      const [prose, facts] = notice.message.split('\n\nFacts:\n');
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      expect(prose).to.not.match(/[\u0000-\u0009\u000b-\u001f\u007f]/);
      expect(prose!.split('\n').some((line) => line.startsWith('Subject:'))).to.equal(false);
      expect(notice.message.length).to.be.below(4000);
      expect(JSON.parse(facts!).reason.length).to.be.at.most(1000);
    });
  });

  describe('the state of a step (chainState)', () => {
    const T0 = Date.parse('2024-05-01T12:00:00Z');
    const hook = { heartbeatTimeoutSeconds: 1800, globalTimeoutSeconds: 172_800 };
    const read = {
      carried: undefined,
      hook,
      eventTimeMs: T0,
      startedMs: T0 + 2000,
      settingDryRun: false,
      canFollowCommands: true,
    };
    const carried: StepState = {
      firstSeenMs: T0,
      attempt: 7,
      unknowns: 1,
      holdingNotified: true,
      hook,
      lastHeartbeatMs: T0,
      heartbeats: 2,
      dryRun: false,
      ssm: { commandId: 'cmd-1', sentAtMs: T0 + 60_000 },
    };

    it('starts a first step at its event time with the hook read, and cannot be changed', () => {
      const { state } = chainState(read);
      expect(state).to.deep.equal({
        firstSeenMs: T0,
        attempt: 1,
        unknowns: 0,
        holdingNotified: false,
        hook,
        lastHeartbeatMs: T0,
        heartbeats: 0,
        dryRun: false,
      });
      expect(Object.isFrozen(state)).to.equal(true);
    });

    it('carries a recheck on with its own mode, command and counters', () => {
      const { state, givenUp } = chainState({ ...read, carried, settingDryRun: true });
      expect(state).to.deep.equal(carried);
      expect(givenUp).to.equal(undefined);
    });

    it('drops a command it can no longer follow, and says which', () => {
      const { state, givenUp } = chainState({ ...read, carried, canFollowCommands: false });
      expect(state).to.not.have.property('ssm');
      expect(givenUp).to.deep.equal(carried.ssm);
      expect(carried.ssm, 'the carried state is left alone').to.not.equal(undefined);
    });

    it('says when it refuses the dry run the setting asks for', () => {
      const late = { ...read, settingDryRun: true, startedMs: T0 + 61_000 };
      expect(chainState(late)).to.deep.include({ dryRunRefused: true });
      expect(chainState(late).state.dryRun).to.equal(false);
      expect(chainState({ ...late, startedMs: T0 + 5000 }).state.dryRun).to.equal(true);
      expect(chainState({ ...late, carried }).dryRunRefused).to.equal(false);
    });

    // The retry rule protects busy instances from terminations; applied to a launch it made a
    // dry-run stage act live (it could ABANDON a launch). Broken variant caught: the rule
    // applied to every first step whatever its transition (the code before the fix).
    it('keeps a retried launch first step in dry run; a terminate one still goes live', () => {
      const late = { ...read, settingDryRun: true, startedMs: T0 + 61_000 };
      expect(chainState({ ...late, launch: true })).to.deep.include({ dryRunRefused: false });
      expect(chainState({ ...late, launch: true }).state.dryRun).to.equal(true);
      expect(chainState({ ...late, launch: false }).state.dryRun).to.equal(false);
    });
  });
});
