/**
 * A SendMessage that reached SQS but failed on our side (its answer lost, the step's deadline
 * passed) makes the step fail after its recheck is on the queue; the delivery is retried and
 * sends a second recheck: two chains for one lifecycle action. Neither can see the other (SQS
 * has no lookup, Auto Scaling keeps no per-action state we can read), so the gate makes the
 * second chain harmless instead: both carry the same pinned mode, first sight and deadline;
 * each decides from its own fresh probe; Auto Scaling accepts one CompleteLifecycleAction and
 * answers the other "No active Lifecycle Action", after which that chain stops with an
 * `ended` notice carrying the same `outcome-id`.
 *
 * These tests drive two such chains through the real step (real loopback prober, fake AWS
 * whose Complete, like Auto Scaling's, succeeds once) in many interleavings, and check: one
 * accepted completion, never while the instance answers BUSY; one outcome (the other chain's
 * notice says the action was completed elsewhere); one outcome-id.
 * Broken variants tried, each caught by both tests: the step taking "No active Lifecycle
 * Action" on Complete for a completion of its own (a second `released`, two decided outcomes);
 * FakeLifecycle accepting every Complete, as Auto Scaling does not (two accepted completions).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { gateStep, type StepOutcome } from '../../lib/gate/step.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { awsError, GROUP, INSTANCE, makeWorld, terminateEvent, type World } from './fakes.js';

const BUSY = { kind: 'answer', body: 'BUSY' } as const;
const IDLE = { kind: 'answer', body: 'IDLE' } as const;

describe('gate: two chains for one action (an ambiguous SendMessage)', function () {
  this.timeout(120_000);
  let worker: Worker;

  beforeEach(async () => {
    worker = await startWorker(BUSY);
  });
  afterEach(async () => {
    await worker.close();
  });

  function setUp(env: Record<string, string> = {}): World {
    const world = makeWorld({
      env: { THEMIS_METRICS_PORT: String(worker.port), THEMIS_UNKNOWN_LIMIT: '2', ...env },
      heartbeatTimeoutSeconds: 1800,
    });
    world.groups.addresses.set(INSTANCE, worker.address);
    return world;
  }

  /** The first step's SendMessage reaches the queue but fails; its retry sends another. */
  async function twoChains(world: World): Promise<string[]> {
    world.rechecks.failAfterSending = awsError('TimeoutError', 'socket hang up', 'SendMessage');
    const first = await gateStep(terminateEvent(), world.deps).catch((err: unknown) => err);
    expect(first).to.have.property('name', 'UpstreamError');
    delete world.rechecks.failAfterSending;
    world.clock.advance(2);
    await gateStep(terminateEvent(), world.deps);
    const bodies = world.rechecks.scheduled.map((r) => r.body);
    expect(bodies).to.have.length(2);
    return bodies;
  }

  /** Outcome notices, `ended` included (not `holding` / `error`). */
  const outcomes = (world: World) =>
    world.notifications.published.filter(
      (n) => !['holding', 'error'].includes(n.attributes.event ?? ''),
    );

  it('ends the action once: one completion accepted, the other chain stops with an `ended` notice', async () => {
    const world = setUp();
    const [a, b] = await twoChains(world);
    world.clock.advance(10);
    expect(await gateStep(a!, world.deps)).to.include({ outcome: 'held' });
    expect(await gateStep(b!, world.deps)).to.include({ outcome: 'held' });
    expect(world.lifecycle.completions).to.deep.equal([]);

    worker.set(IDLE);
    const [nextA, nextB] = world.rechecks.scheduled.slice(-2).map((r) => r.body);
    world.clock.advance(10);
    const done = await gateStep(nextA!, world.deps);
    const other = await gateStep(nextB!, world.deps);
    expect(done).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(other).to.include({ outcome: 'gone', cause: 'ended-elsewhere' });
    expect(world.notifications.events().filter((e) => e !== 'holding')).to.deep.equal([
      'released',
      'ended',
    ]);
    const ids = new Set(outcomes(world).map((n) => n.attributes['outcome-id']));
    expect(ids.size).to.equal(1);
    expect(world.rechecks.scheduled, 'neither chain goes on').to.have.length(4);
  });

  it('never completes twice, never while the instance answers BUSY, and gives one outcome, whatever the interleaving', async () => {
    // Per round: which chain steps (0 or 1), what the worker answers from now on.
    const round = fc.record({
      chain: fc.integer({ min: 0, max: 1 }),
      answer: fc.constantFrom('busy', 'busy', 'idle', 'unreachable'),
      advanceSeconds: fc.integer({ min: 1, max: 12 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(round, { minLength: 1, maxLength: 14 }), async (rounds) => {
        const world = setUp();
        worker.set(BUSY);
        const pending = await twoChains(world);
        let answer = 'busy';
        const accepted: string[] = [];
        const realComplete = world.lifecycle.complete.bind(world.lifecycle);
        world.lifecycle.complete = async (ref, result) => {
          // What the instance says right now, as the completion is asked for.
          expect(answer, `${result} while the instance answers BUSY`).to.not.equal('busy');
          const r = await realComplete(ref, result);
          if (r === 'completed') accepted.push(result);
          return r;
        };
        const live = [true, true];
        for (const { chain, answer: next, advanceSeconds } of rounds) {
          answer = next;
          worker.set(next === 'busy' ? BUSY : next === 'idle' ? IDLE : { kind: 'reset' });
          if (!live[chain]) continue;
          world.clock.advance(advanceSeconds);
          const before = world.rechecks.scheduled.length;
          const outcome: StepOutcome = await gateStep(pending[chain]!, world.deps);
          if (world.rechecks.scheduled.length > before && outcome.outcome === 'held') {
            pending[chain] = world.rechecks.scheduled.at(-1)!.body;
          } else {
            live[chain] = false;
          }
        }
        expect(accepted.length).to.be.at.most(1);
        const notices = outcomes(world);
        expect(new Set(notices.map((n) => n.attributes['outcome-id'])).size).to.be.at.most(1);
        // One outcome: at most one notice that is not "ended (completed elsewhere)".
        const decided = notices.filter((n) => n.attributes.event !== 'ended');
        expect(decided.length).to.equal(accepted.length);
        expect(notices.length).to.be.at.most(2);
        for (const n of notices) expect(n.attributes.group).to.equal(GROUP);
      }),
      { numRuns: 60 },
    );
  });
});
