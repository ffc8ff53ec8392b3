/**
 * THEMIS_ON_DEADLINE / THEMIS_ON_SSM_FAILURE = RETAIN through a whole gate step: fake ports
 * (test/gate/fakes.ts), the real prober against a loopback worker.
 */
import { expect } from 'chai';
import { ConfigError } from '../../lib/errors.js';
import { parseGateEnv } from '../../lib/gate/config.js';
import { gateStep } from '../../lib/gate/step.js';
import { enableRetentionCommand } from '../../lib/retain/decide.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  GROUP,
  INSTANCE,
  makeWorld,
  QUEUE_URL,
  terminateEvent,
  type World,
} from '../gate/fakes.js';

const BUSY = { kind: 'answer', body: 'BUSY' } as const;
const IDLE = { kind: 'answer', body: 'IDLE' } as const;

describe('retain: the gate with RETAIN', () => {
  let worker: Worker;
  let world: World;

  /** A world whose group retains abandoned instances or not, at the deadline on its first step. */
  function setUp(env: Record<string, string>, retains: boolean) {
    world = makeWorld({
      env: { THEMIS_METRICS_PORT: String(worker.port), THEMIS_MAX_WAIT_SECONDS: '600', ...env },
    });
    world.groups.addresses.set(INSTANCE, worker.address);
    const listed = world.groups.describeGroups.bind(world.groups);
    world.groups.describeGroups = async (names) =>
      (await listed(names)).map((g) => ({ ...g, ...(retains ? { retainsOnAbandon: true } : {}) }));
    // The event is 10 min old: the first step is already at THEMIS_MAX_WAIT_SECONDS.
    world.clock.set('2024-05-01T12:10:00Z');
  }

  beforeEach(async () => {
    worker = await startWorker(BUSY);
  });
  afterEach(async () => {
    await worker.close();
  });

  it('reads RETAIN (any case) for both failure policies and names the variable for a bad value', () => {
    const config = parseGateEnv({
      THEMIS_RECHECK_QUEUE_URL: QUEUE_URL,
      THEMIS_ON_DEADLINE: 'retain',
      THEMIS_ON_SSM_FAILURE: ' Retain ',
    });
    expect(config.onDeadline).to.equal('RETAIN');
    expect(config.onSsmFailure).to.equal('RETAIN');
    expect(() => parseGateEnv({ THEMIS_RECHECK_QUEUE_URL: QUEUE_URL, THEMIS_ON_DEADLINE: 'KEEP' }))
      .to.throw(ConfigError, /THEMIS_ON_DEADLINE/)
      .with.property('message')
      .that.contains('CONTINUE, ABANDON or RETAIN');
  });

  it('abandons a busy instance at the deadline into Terminating:Retained when the group retains, and says so', async () => {
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, true);
    const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(outcome).to.include({ outcome: 'completed', decision: 'deadline', result: 'ABANDON' });
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('retained');
    expect(notice.subject).to.match(/^themis: RETAINED i-\S+ in Electric-Ziggurat after 10 min/);
    expect(notice.message).to.contain('Terminating:Retained');
    expect(notice.message).to.contain('Last answer: busy');
  });

  // A step that completed with ABANDON and was killed before its Publish: its retry finds the
  // action completed. Broken variant caught: ended(decision) without the step's reason (as it
  // was) — the notice says "already completed" but not that the instance keeps running.
  it("names the Retained state in the retry's notice when the step that retained was killed before its own", async () => {
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, true);
    world.lifecycle.ended = true; // the earlier attempt's CompleteLifecycleAction took effect
    const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(outcome.outcome).to.equal('gone');
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('ended');
    expect(notice.message).to.match(/themis had decided: deadline \(.*Terminating:Retained/);
  });

  it('completes with CONTINUE, never ABANDON, when the group does not retain — with the command that enables retention', async () => {
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, false);
    const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('deadline');
    expect(notice.message).to.contain(enableRetentionCommand(GROUP));
    expect(
      world.log.lines.some(
        (l) => l.level === 'error' && l.message === 'retention not enabled for the group',
      ),
    ).to.equal(true);
  });

  it('reads the group again before RETAIN abandons: retention turned off since means CONTINUE', async () => {
    // Broken variant caught: deciding on the step's first (in the handler: cached) answer
    // completed with ABANDON, which on a group that no longer retains terminates a busy instance.
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, true);
    const retaining = world.groups.describeGroups.bind(world.groups);
    let reads = 0;
    world.groups.describeGroups = async (names: string[]) =>
      (await retaining(names)).map((g) => (reads++ === 0 ? g : { ...g, retainsOnAbandon: false }));
    const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(reads).to.equal(2);
    expect(world.notifications.published.at(-1)!.message).to.contain(enableRetentionCommand(GROUP));
  });

  it('says "retained" for a plain ABANDON on a group that retains', async () => {
    setUp({ THEMIS_ON_DEADLINE: 'ABANDON' }, true);
    await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    expect(world.notifications.events().at(-1)).to.equal('retained');
  });

  /** A terminate event of a warm-pool passage (Origin/Destination as Auto Scaling sends them). */
  function poolEvent(origin: string, destination: string) {
    const e = terminateEvent({ time: '2024-05-01T12:00:00Z' });
    return { ...e, detail: { ...e.detail, Origin: origin, Destination: destination } };
  }

  it('completes RETAIN of a return to the warm pool with CONTINUE: Warmed:Pending:Retained is not watched', async () => {
    // Broken variant caught: resolveCompletion ignoring the passage (ABANDON, "retained").
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, true);
    const outcome = await gateStep(poolEvent('AutoScalingGroup', 'WarmPool'), world.deps);
    expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('deadline');
    expect(notice.message).to.contain('Warmed:Pending:Retained');
    expect(notice.message).to.contain('does not watch');
  });

  it('never promises to release a warm-pool instance a plain ABANDON leaves retained', async () => {
    // Broken variant caught: the old 'retained' text (Terminating:Retained, "terminates it once
    // it answers idle") for a termination from the warm pool.
    setUp({ THEMIS_ON_DEADLINE: 'ABANDON' }, true);
    await gateStep(poolEvent('WarmPool', 'EC2'), world.deps);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('retained');
    expect(notice.message).to.contain('Warmed:Terminating:Retained');
    expect(notice.message).to.not.contain('running in Terminating:Retained');
    expect(notice.message).to.not.match(/terminates it[^.]*once it answers idle/);
    expect(notice.message).to.contain('will not terminate it');
  });

  it('releases an instance that is idle at the deadline with CONTINUE, retention or not', async () => {
    worker.set(IDLE);
    setUp({ THEMIS_ON_DEADLINE: 'RETAIN' }, true);
    await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    expect(world.notifications.events().at(-1)).to.equal('released');
  });

  it('retains on THEMIS_ON_SSM_FAILURE=RETAIN when the pre-termination command cannot start', async () => {
    worker.set(IDLE);
    setUp({ THEMIS_ON_SSM_FAILURE: 'RETAIN', THEMIS_SSM_DOCUMENT: 'no-such-document' }, true);
    world.clock.set('2024-05-01T12:00:00Z');
    const outcome = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(outcome).to.include({ decision: 'ssm-failed', result: 'ABANDON' });
    expect(world.notifications.events().at(-1)).to.equal('retained');
  });

  it('in a dry run only says it would have retained', async () => {
    setUp(
      { THEMIS_ON_DEADLINE: 'RETAIN', THEMIS_DRY_RUN: 'true', THEMIS_MAX_WAIT_SECONDS: '60' },
      true,
    );
    // A fresh event: a first step this old is never a retry, so the dry run applies.
    world.clock.set('2024-05-01T12:00:00Z');
    const first = await gateStep(terminateEvent({ time: '2024-05-01T12:00:00Z' }), world.deps);
    expect(first).to.include({ outcome: 'held', dryRun: true });
    world.clock.advance(70);
    const outcome = await gateStep(world.rechecks.scheduled.at(-1)!.body, world.deps);
    expect(outcome.outcome).to.equal('observed');
    expect(world.lifecycle.completions).to.deep.equal([]);
    expect(world.notifications.published.at(-1)!.subject).to.match(/would have retained/);
  });
});
