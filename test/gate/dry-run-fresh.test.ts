/**
 * A first step pins its chain's mode (dry run or live) for the whole hold, while the gate
 * handler answers group tags from the container's cache (GROUP_TAGS_TTL_MS). An operator who
 * takes a group out of dry run, followed within the cache's lifetime by a scale-in, must get a
 * live hold: a hold pinned to dry run never heartbeats, the hook times out, and its
 * DefaultResult terminates the busy instance. Through createGateHandler, fake ports
 * (test/gate/fakes.ts), a real loopback worker answering BUSY. Found by review.
 *
 * Broken variant caught: gateStep without the uncached re-read of a first step that would
 * start in dry run — the new hold's messages carry dryRun: true and nothing is heartbeated.
 */
import { expect } from 'chai';
import { createGateHandler, GROUP_TAGS_TTL_MS } from '../../lib/gate/handler.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { GROUP, INSTANCE, makeWorld, terminateEvent, type World } from './fakes.js';

const OTHER = 'i-0fed5678abc123456';

/** The chain's mode as its recheck messages carry it. */
function chainModes(world: World, instanceId: string): Array<boolean | undefined> {
  return world.rechecks.scheduled
    .map((r) => JSON.parse(r.body) as { action: { instanceId: string }; dryRun?: boolean })
    .filter((m) => m.action.instanceId === instanceId)
    .map((m) => m.dryRun);
}

describe('gate handler: a first step reads a dry-run setting uncached', () => {
  let worker: Worker;
  let world: World;

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
    world = makeWorld({ env: { THEMIS_METRICS_PORT: String(worker.port) } });
    world.groups.addresses.set(INSTANCE, worker.address);
    world.groups.addresses.set(OTHER, worker.address);
  });
  afterEach(async () => {
    await worker.close();
  });

  // Within the cache's lifetime whatever its jitter: a first answer is kept ½–1 TTL.
  const SOON_S = GROUP_TAGS_TTL_MS / 2 / 1000 - 5;

  it('holds live when the dry-run tag was removed after the container cached it', async () => {
    const handler = createGateHandler(world.deps);
    world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
    await handler(terminateEvent({ time: new Date(world.clock()).toISOString() }));
    expect(chainModes(world, INSTANCE)).to.deep.equal([true]);

    world.clock.advance(SOON_S / 2);
    world.groups.tags.set(GROUP, {}); // the operator goes live
    world.clock.advance(SOON_S / 2);
    const reads = world.groups.describeCalls.length;
    await handler(
      terminateEvent({ instanceId: OTHER, time: new Date(world.clock()).toISOString() }),
    );
    expect(chainModes(world, OTHER), 'the new hold runs live').to.deep.equal([false]);
    // The step's own read came from the cache; the re-read went to AWS.
    expect(world.groups.describeCalls.length - reads).to.equal(1);
  });

  it('still starts in dry run when the tag is there, and costs live holds no extra read', async () => {
    const handler = createGateHandler(world.deps);
    world.groups.tags.set(GROUP, {});
    await handler(terminateEvent({ time: new Date(world.clock()).toISOString() }));
    world.clock.advance(SOON_S);
    const reads = world.groups.describeCalls.length;
    await handler(
      terminateEvent({ instanceId: OTHER, time: new Date(world.clock()).toISOString() }),
    );
    expect(chainModes(world, OTHER)).to.deep.equal([false]);
    expect(world.groups.describeCalls.length - reads, 'live: answered from the cache').to.equal(0);

    world.groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
    const third = 'i-0aaa5678abc123456';
    world.groups.addresses.set(third, worker.address);
    world.clock.advance(GROUP_TAGS_TTL_MS / 1000); // the cached "live" has expired
    await handler(
      terminateEvent({ instanceId: third, time: new Date(world.clock()).toISOString() }),
    );
    expect(chainModes(world, third)).to.deep.equal([true]);
  });
});
