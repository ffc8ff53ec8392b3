/**
 * The gate handler reads the group again, uncached, before RETAIN decides (GateDeps.freshGroups,
 * wired in lib/gate/handler.ts), while its other reads answer from the container's cache: a
 * cached answer about the group's instance lifecycle policy may be up to GROUP_TAGS_TTL_MS old,
 * and acting on a stale one either terminates a busy instance (ABANDON on a group that no longer
 * retains) or lets it be terminated when the group would keep it (CONTINUE on a group that now
 * retains). Through createGateHandler: a first step caches the group, its policy changes in AWS,
 * and the recheck that reaches the deadline (THEMIS_ON_DEADLINE=RETAIN, the worker still busy)
 * comes within the cache's lifetime. Fake ports (test/gate/fakes.ts), a real loopback worker.
 *
 * Broken variants caught: freshGroups wired to the cached groups in the handler (ABANDON on
 * the group that no longer retains: the first test fails); retentionNow reading the group
 * again only when the cached answer retains (CONTINUE on the group that now retains: the
 * second test fails).
 */
import { expect } from 'chai';
import { createGateHandler } from '../../lib/gate/handler.js';
import { enableRetentionCommand } from '../../lib/retain/decide.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { GROUP, INSTANCE, makeWorld, sqsEvent, terminateEvent, type World } from './fakes.js';

describe('gate handler: RETAIN reads the group uncached', () => {
  let worker: Worker;
  let world: World;
  /** What DescribeAutoScalingGroups answers now (the group's policy in AWS). */
  let retainsInAws: boolean;

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
    world = makeWorld({
      env: {
        THEMIS_METRICS_PORT: String(worker.port),
        THEMIS_MAX_WAIT_SECONDS: '600',
        THEMIS_ON_DEADLINE: 'RETAIN',
      },
    });
    world.groups.addresses.set(INSTANCE, worker.address);
    const listed = world.groups.describeGroups.bind(world.groups);
    world.groups.describeGroups = async (names) =>
      (await listed(names)).map((g) => ({
        ...g,
        ...(retainsInAws ? { retainsOnAbandon: true } : {}),
      }));
  });
  afterEach(async () => {
    await worker.close();
  });

  /**
   * The first step (the direct event, 9 min 45 s after the action started) holds the busy
   * instance and caches the group; then the policy changes in AWS; 20 s later the recheck is
   * past THEMIS_MAX_WAIT_SECONDS — inside the cache's lifetime.
   */
  async function holdThenReachDeadline(retainsAtFirst: boolean, retainsAtDeadline: boolean) {
    const handler = createGateHandler(world.deps);
    retainsInAws = retainsAtFirst;
    world.clock.set('2024-05-01T12:09:45Z');
    await handler(terminateEvent({ time: '2024-05-01T12:00:00Z' }));
    expect(world.lifecycle.completions, 'held by the first step').to.deep.equal([]);
    const readsAtFirst = world.groups.describeCalls.length;
    expect(readsAtFirst).to.be.at.least(1);

    retainsInAws = retainsAtDeadline;
    world.clock.set('2024-05-01T12:10:05Z');
    const recheck = world.rechecks.scheduled.at(-1)!;
    const response = await handler(sqsEvent([{ id: 'm-1', body: recheck.body }]));
    expect(response).to.deep.equal({ batchItemFailures: [] });
    return { readsAtDeadline: world.groups.describeCalls.length - readsAtFirst };
  }

  it('completes with CONTINUE, with how to enable retention, when the cache says the group retains but AWS no longer does', async () => {
    const { readsAtDeadline } = await holdThenReachDeadline(true, false);
    // The step's own read came from the cache; only the read before the ABANDON went to AWS.
    expect(readsAtDeadline).to.equal(1);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('deadline');
    expect(notice.message).to.contain(`group ${GROUP} does not retain abandoned instances`);
    expect(notice.message).to.contain(enableRetentionCommand(GROUP));
  });

  it('abandons into Terminating:Retained when the cache says the group does not retain but AWS now does', async () => {
    const { readsAtDeadline } = await holdThenReachDeadline(false, true);
    expect(readsAtDeadline).to.equal(1);
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    const notice = world.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('retained');
    expect(notice.message).to.contain('Terminating:Retained');
  });
});
