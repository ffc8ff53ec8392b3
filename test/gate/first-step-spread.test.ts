/**
 * THEMIS_FIRST_STEP_SPREAD_SECONDS: a lifecycle event's first step goes through the recheck
 * queue, a random 0–N s later, asking Auto Scaling nothing on the way (a large scale-in's
 * events arrive together; sim/measure.ts measures the rate). Broken variants tried: the
 * delay from `random * spread` without the + 1 (never the last second: the first test
 * fails), and queueing with a spread of 0 too (the last test fails).
 */
import { expect } from 'chai';
import { createGateHandler } from '../../lib/gate/handler.js';
import type { StepOutcome } from '../../lib/gate/step.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  hookMessage,
  INSTANCE,
  makeWorld,
  sqsEvent,
  terminateEvent,
  TEST_NOTIFICATION_MESSAGE,
} from './fakes.js';

const SPREAD = 10;

describe('gate: the first step of a lifecycle event, spread through the recheck queue', () => {
  let worker: Worker;
  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
  });
  afterEach(async () => {
    await worker.close();
  });

  const world = (random = 0.5, spread = SPREAD) => {
    const w = makeWorld({
      random,
      env: {
        THEMIS_METRICS_PORT: String(worker.port),
        THEMIS_FIRST_STEP_SPREAD_SECONDS: String(spread),
      },
    });
    w.groups.addresses.set(INSTANCE, worker.address);
    return w;
  };

  it('queues the event itself 0 to N seconds later, asking Auto Scaling and the instance nothing', async () => {
    for (const [random, delay] of [
      [0, 0],
      [0.5, 5],
      [0.999_999_9, SPREAD],
    ] as const) {
      const w = world(random);
      const event = terminateEvent();
      const result = await createGateHandler(w.deps)(event);
      expect(result).to.equal(undefined);
      expect(w.rechecks.scheduled).to.deep.equal([
        { body: JSON.stringify(event), delaySeconds: delay },
      ]);
      expect(w.groups.describeCalls, 'DescribeAutoScalingGroups').to.deep.equal([]);
      expect(w.lifecycle.describeCalls, 'DescribeLifecycleHooks').to.equal(0);
      expect(worker.requests, 'probes').to.deep.equal([]);
    }
    // The hook's own notification message is a first step too.
    const w = world();
    await createGateHandler(w.deps)(hookMessage());
    expect(w.rechecks.scheduled).to.have.length(1);
  });

  it('steps the queued event when the queue delivers it, and holds the busy instance', async () => {
    const w = world();
    const handler = createGateHandler(w.deps);
    await handler(terminateEvent());
    const [queued] = w.rechecks.scheduled;
    const batch = await handler(sqsEvent([{ id: 'first', body: queued!.body }]));
    expect(batch).to.deep.equal({ batchItemFailures: [] });
    expect(worker.requests, 'probes').to.have.length(1);
    // The first step's own recheck, not the event again.
    expect(w.rechecks.scheduled).to.have.length(2);
    expect(w.rechecks.scheduled.at(-1)!.body).to.not.equal(queued!.body);
    expect(w.lifecycle.describeCalls).to.equal(1);
  });

  it('steps at once with a spread of 0, and never queues what is not a lifecycle action', async () => {
    const w = world(0.5, 0);
    const outcome = (await createGateHandler(w.deps)(terminateEvent())) as StepOutcome;
    expect(outcome.outcome).to.equal('held');
    expect(worker.requests).to.have.length(1);

    const t = world();
    const ignored = (await createGateHandler(t.deps)(TEST_NOTIFICATION_MESSAGE)) as StepOutcome;
    expect(ignored.outcome).to.equal('ignored');
    expect(t.rechecks.scheduled).to.deep.equal([]);
  });
});
