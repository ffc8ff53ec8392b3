/**
 * A gate SQS batch in which one record's instance misbehaves at the HTTP level (each hostile
 * server of test/helpers/hostile-servers.ts in turn): the handler settles in about one probe
 * timeout, the other records proceed (the busy one is held, the idle one released), and the
 * hostile record is not silently dropped — it is held as unknown (a recheck carries its chain
 * on) or reported in batchItemFailures for redelivery; it is never released.
 *
 * Written against behaviour, not against how the handler budgets its records.
 * Broken variant tried: without the prober's own deadline, the 1xx / headers / trickle / hang
 * batches never settle (mocha timeout).
 */
import { expect } from 'chai';
import { createGateHandler, type SqsBatchResponse } from '../../lib/gate/handler.js';
import type { LifecycleActionRef, LifecycleResult } from '../../lib/ports.js';
import { HOSTILE } from '../helpers/hostile-servers.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';
import { INSTANCE, makeWorld, sqsEvent, terminateEvent, type World } from './fakes.js';

const TIMEOUT_MS = 300;
/** A batch is a probe round plus in-memory AWS calls: allow the loaded machine this much more. */
const LATE_MS = 500;
/** Fail with a message instead of a mocha timeout when the handler never settles. */
const NEVER_MS = 10_000;

const HOSTILE_ID = INSTANCE;
const BUSY_ID = 'i-0fed5678abc123456';
const IDLE_ID = 'i-0aaa1111bbb222333';
const HOSTILE_ADDRESS = '127.0.12.1';
const BUSY_ADDRESS = '127.0.12.2';
const IDLE_ADDRESS = '127.0.12.3';

describe('gate batch with a hostile instance', () => {
  let workers: WorkerSet;
  let world: World;

  before(async () => {
    workers = await startWorkersOnOnePort([
      [HOSTILE_ADDRESS, { kind: 'hang' }],
      [BUSY_ADDRESS, { kind: 'answer', body: 'BUSY' }],
      [IDLE_ADDRESS, { kind: 'answer', body: 'IDLE' }],
    ]);
  });
  after(async () => {
    await workers.close();
  });

  beforeEach(() => {
    world = makeWorld({
      env: {
        THEMIS_METRICS_PORT: String(workers.port),
        THEMIS_PROBE_TIMEOUT_MS: String(TIMEOUT_MS),
      },
    });
    world.groups.addresses.set(HOSTILE_ID, HOSTILE_ADDRESS);
    world.groups.addresses.set(BUSY_ID, BUSY_ADDRESS);
    world.groups.addresses.set(IDLE_ID, IDLE_ADDRESS);
    // Each record is its own lifecycle action: completing the idle one ends only that one
    // (the shared fake would answer 'gone' to every later heartbeat).
    world.lifecycle.complete = async (ref: LifecycleActionRef, result: LifecycleResult) => {
      world.lifecycle.completions.push({ ref: { ...ref }, result });
      return 'completed';
    };
  });

  for (const c of HOSTILE) {
    it(`settles a batch holding an instance that ${c.name}, and the others proceed`, async () => {
      workers.byAddress.get(HOSTILE_ADDRESS)!.set(c.behaviour);
      const event = sqsEvent([
        { id: 'hostile', body: JSON.stringify(terminateEvent({ instanceId: HOSTILE_ID })) },
        { id: 'busy', body: JSON.stringify(terminateEvent({ instanceId: BUSY_ID })) },
        { id: 'idle', body: JSON.stringify(terminateEvent({ instanceId: IDLE_ID })) },
      ]);
      const invocationEnds = Date.now() + 60_000;
      const context = { getRemainingTimeInMillis: () => invocationEnds - Date.now() };

      const started = performance.now();
      let never: NodeJS.Timeout | undefined;
      const response = (await Promise.race([
        createGateHandler(world.deps)(event, context),
        new Promise((_, reject) => {
          never = setTimeout(
            () => reject(new Error(`the handler did not settle within ${NEVER_MS} ms`)),
            NEVER_MS,
          );
        }),
      ]).finally(() => clearTimeout(never))) as SqsBatchResponse;
      const elapsed = performance.now() - started;

      expect(elapsed).to.be.at.most(TIMEOUT_MS + LATE_MS);
      const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
      expect(failed).not.to.include('busy');
      expect(failed).not.to.include('idle');

      // The others proceed: the busy instance is held, the idle one released.
      const rechecked = world.rechecks.scheduled.map(
        (r) => (JSON.parse(r.body) as { action: { instanceId: string } }).action.instanceId,
      );
      expect(rechecked).to.include(BUSY_ID);
      expect(world.lifecycle.heartbeats.map((h) => h.instanceId)).to.include(BUSY_ID);
      expect(world.lifecycle.completions.map((x) => [x.ref.instanceId, x.result])).to.deep.include([
        IDLE_ID,
        'CONTINUE',
      ]);

      // The hostile one is never released, and its chain goes on (held) or is redelivered.
      expect(world.lifecycle.completions.map((x) => x.ref.instanceId)).not.to.include(HOSTILE_ID);
      expect(
        failed.includes('hostile') || rechecked.includes(HOSTILE_ID),
        'the hostile record is held for a recheck or left for redelivery',
      ).to.equal(true);
    });
  }
});
