/**
 * The launch gate's abandon count (group tag themis:launch-abandons) across gate containers:
 * each container answers group tags from its cache (GROUP_TAGS_TTL_MS), so another
 * container's abandons written since are read again, uncached, when a launch completes.
 * Through createGateHandler, fake ports, a real loopback worker. Found by review.
 *
 * Broken variant caught: recordLaunchOutcome on the step's cached count (as it was) — the
 * ready launch does not clear the count written by the other container.
 */
import { expect } from 'chai';
import { createGateHandler, GROUP_TAGS_TTL_MS } from '../../lib/gate/handler.js';
import { LAUNCH_ABANDONS_TAG, LAUNCH_GATE_TAG } from '../../lib/gate/launch.js';
import type { GroupTagWriter } from '../../lib/ports.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP } from '../fixtures/aws-lifecycle-events.js';
import { GROUP, INSTANCE, makeWorld, sqsEvent, TOKEN, type World } from './fakes.js';

const LAUNCH_HOOK = 'themis-launch';
// Within the cache's lifetime whatever its jitter: a first answer is kept ½–1 TTL.
const SOON_S = GROUP_TAGS_TTL_MS / 2 / 1000 - 5;

describe('gate handler: the launch abandon count across containers', () => {
  let worker: Worker;
  let world: World;
  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', status: 503, body: 'starting' });
    world = makeWorld({
      env: {
        THEMIS_METRICS_PORT: String(worker.port),
        THEMIS_LAUNCH_HOOK_NAME: LAUNCH_HOOK,
        THEMIS_LAUNCH_MAX_WAIT_SECONDS: '1800',
      },
    });
    world.lifecycle.addHook(GROUP, LAUNCH_HOOK, 300);
    world.groups.addresses.set(INSTANCE, worker.address);
    world.groups.tags.set(GROUP, { [LAUNCH_GATE_TAG]: 'true' });
    const writer: GroupTagWriter = {
      async setTag(group, key, value) {
        const tags = { ...world.groups.tags.get(group) };
        if (value === undefined) delete tags[key];
        else tags[key] = value;
        world.groups.tags.set(group, tags);
      },
    };
    world.deps = { ...world.deps, groupTags: writer };
  });
  afterEach(() => worker.close());

  const launchEvent = () => ({
    ...WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP,
    time: new Date(world.clock()).toISOString(),
    detail: {
      ...WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP.detail,
      LifecycleActionToken: TOKEN,
      AutoScalingGroupName: GROUP,
      LifecycleHookName: LAUNCH_HOOK,
      EC2InstanceId: INSTANCE,
    },
  });

  it('clears the count when a launch is ready, whatever other containers wrote since this one read the group', async () => {
    const handler = createGateHandler(world.deps);
    await handler(launchEvent()); // this container reads the group: no abandons yet
    // Another container abandons two launches of the group meanwhile.
    world.clock.advance(SOON_S / 2);
    world.groups.tags.set(GROUP, {
      [LAUNCH_GATE_TAG]: 'true',
      [LAUNCH_ABANDONS_TAG]: `2 ${new Date(world.clock()).toISOString()}`,
    });
    // Later, within the cache's lifetime, this container's launch is ready.
    world.clock.advance(SOON_S / 2);
    worker.set({ kind: 'answer', body: 'IDLE' });
    await handler(sqsEvent([{ id: 'r', body: world.rechecks.scheduled.at(-1)!.body }]));
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    expect(world.groups.tags.get(GROUP)?.[LAUNCH_ABANDONS_TAG], 'count cleared').to.equal(
      undefined,
    );
  });

  it('counts on from the abandons other containers wrote since this one read the group', async () => {
    const handler = createGateHandler(world.deps);
    await handler(launchEvent()); // cached: no abandons yet
    world.clock.advance(SOON_S / 2);
    world.groups.tags.set(GROUP, {
      [LAUNCH_GATE_TAG]: 'true',
      [LAUNCH_ABANDONS_TAG]: `2 ${new Date(world.clock()).toISOString()}`,
    });
    // This launch never answers: it is abandoned at THEMIS_LAUNCH_MAX_WAIT_SECONDS.
    world.clock.advance(1800);
    await handler(sqsEvent([{ id: 'r', body: world.rechecks.scheduled.at(-1)!.body }]));
    expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
    expect(world.groups.tags.get(GROUP)?.[LAUNCH_ABANDONS_TAG]).to.match(/^3 /);
    expect(world.notifications.published.at(-1)!.message).to.match(/launch 3 in a row/);
  });
});
