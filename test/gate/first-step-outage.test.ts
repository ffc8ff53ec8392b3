/**
 * Issue 8: a lifecycle event invoked directly by EventBridge gets Lambda's asynchronous
 * retries only — two, a minute and then two minutes after the failures — before the events
 * dead-letter queue. An AWS outage longer than that during the first step lost the hold. The
 * handler now puts a failed direct first step on the recheck queue (handler.ts,
 * retryThroughQueue), where the queue's visibility timeout and redrive govern its retries as
 * they govern every later step.
 *
 * One history in the simulator (sim/, virtual time, the deployed stack's numbers, the real
 * gate and SDK adapters): a busy instance is terminated as a 6-minute Auto Scaling outage
 * begins. Broken variant, run here too: a gate whose retry through the queue is refused
 * (as before the fix) — Lambda's retries both fall inside the outage and the hold is lost.
 */
import { expect } from 'chai';
import type { GateDeps } from '../../lib/gate/step.js';
import { deployed } from '../../sim/deployed.js';
import { checkInvariants } from '../../sim/invariants.js';
import { Simulation } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';

const MIN = 60_000;
const OUTAGE_MS = 6 * MIN;

/** The gate as it was: a failed first step is left to Lambda's retries. */
const withoutQueueRetry = (deps: GateDeps): GateDeps => ({
  ...deps,
  rechecks: {
    schedule: (body, delaySeconds, opts) =>
      body.startsWith('{"themis":')
        ? deps.rechecks.schedule(body, delaySeconds, opts)
        : Promise.reject(new Error('no retry through the queue (the broken variant)')),
  },
});

async function outageDuringFirstStep(broken: boolean) {
  const stack = await deployed();
  const startMs = Date.parse('2026-11-26T12:00:00Z');
  // The outage begins as the instance enters Terminating:Wait: the first step meets it.
  const terminateAt = startMs + MIN;
  const sim = new Simulation({
    seed: 7,
    deployed: stack,
    startMs,
    groups: [{ name: 'render', desired: 2, hook: stack.hook }],
    // Busy for 50 minutes from launch: far longer than the outage and the hook's timeout.
    work: ({ launchedAt }) =>
      new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 50 * MIN }]),
    protect: false,
    faults: {
      outages: [{ service: 'autoscaling', fromMs: terminateAt, toMs: terminateAt + OUTAGE_MS }],
    },
    ...(broken ? { gate: { wrapDeps: withoutQueueRetry } } : {}),
  });
  const [busy] = sim.fleet.instances('render');
  sim.scheduler.at(terminateAt, 'terminate', () => sim.fleet.terminateInstance(busy!.id, true));
  await sim.runFor(60 * MIN);
  await sim.runUntilSettled(3 * 3600_000);
  const action = sim.fleet.actions.find((a) => a.instanceId === busy!.id)!;
  return { sim, action, check: checkInvariants(sim) };
}

describe('gate handler: an outage during a direct first step', function () {
  this.timeout(120_000);

  it('keeps the hold through a 6-minute Auto Scaling outage that begins with the first step', async () => {
    const { sim, action, check } = await outageDuringFirstStep(false);
    const queuedEvents = sim.recheckQueue.messages.filter((m) =>
      m.body.includes('"detail-type":"EC2 Instance-terminate Lifecycle Action"'),
    );
    expect(queuedEvents, 'the failed first step went on the recheck queue').to.have.length(1);
    expect(
      queuedEvents[0]!.receiveCount,
      'and failed there too before the outage ended',
    ).to.be.greaterThan(1);
    expect(sim.events.deadLetters(), 'no event in the dead-letter queue').to.deep.equal([]);
    expect(action.heartbeats, 'heartbeated once Auto Scaling was back').to.be.greaterThan(0);
    expect(action.ended).to.deep.include({ by: 'completed', result: 'CONTINUE' });
    expect(action.ended!.at, 'released after its work ended').to.be.at.least(
      sim.scheduler.startMs + 50 * MIN,
    );
    expect(sim.fleet.terminations.filter((t) => t.busy)).to.deep.equal([]);
    expect(check.violations).to.deep.equal([]);
  });

  it('loses that hold when the first step is left to Lambda’s retries (the broken variant)', async () => {
    const { sim, action } = await outageDuringFirstStep(true);
    expect(sim.events.deadLetters().map((d) => d.attempts)).to.deep.equal([3]);
    expect(action.heartbeats).to.equal(0);
    expect(action.ended?.by).to.equal('heartbeat-timeout');
  });
});
