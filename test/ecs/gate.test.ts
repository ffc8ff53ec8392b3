/**
 * The gate in ECS mode: the real gate step and the real ECS adapter over the wire against
 * moto_server (container instances of a loopback fleet, tasks started and stopped by the
 * test); lifecycle actions, rechecks and notices are the gate tests' fakes, because moto
 * implements neither CompleteLifecycleAction nor RecordLifecycleActionHeartbeat.
 *
 * moto does not model draining: a DRAINING instance keeps its tasks RUNNING until the test
 * stops them (real ECS would stop and move service tasks). The holding rule is the same
 * either way — the gate waits for the tasks, whoever stops them.
 */
import { ServerException, type ECSClient } from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import { gateStep } from '../../lib/gate/step.js';
import { makeWorld, terminateEvent, type World } from '../gate/fakes.js';
import type { MotoFleet } from '../helpers/moto.js';
import {
  startEcsWorld,
  type EcsWorld,
  startTask,
  stopTask,
  type MotoCluster,
} from '../helpers/moto-ecs.js';

describe('gate in ECS mode (moto)', function () {
  this.timeout(90_000);
  let ecs: ECSClient;
  let adapter: EcsAdapter;
  let fleet: MotoFleet;
  let cluster: MotoCluster;

  let ecsWorld: EcsWorld;

  before(async () => {
    // The last instance is never registered.
    ecsWorld = await startEcsWorld({
      groupName: 'gate-ecs',
      size: 4,
      clusterName: 'gate-ecs',
      registered: 3,
    });
    ({ ecs, fleet, cluster } = ecsWorld);
    adapter = new EcsAdapter(ecs);
  });
  after(async () => {
    await ecsWorld?.stop();
  });

  function world(env: Record<string, string> = {}): World {
    const w = makeWorld({ env: { THEMIS_ECS_CLUSTER: cluster.name, ...env } });
    w.deps.ecs = adapter;
    return w;
  }

  async function statusOf(instanceId: string): Promise<string> {
    const [ci] = await adapter.containerInstances(cluster.name, { ec2InstanceIds: [instanceId] });
    return ci!.status;
  }

  it('drains the instance, holds it while a task runs, and releases it naming the task', async () => {
    const instanceId = fleet.instanceIds[0]!;
    const work = await startTask(ecs, cluster, instanceId);
    await startTask(ecs, cluster, instanceId, { daemon: true });
    const w = world();

    const first = await gateStep(terminateEvent({ instanceId }), w.deps);

    expect(first).to.include({ outcome: 'held', decision: 'hold' });
    expect(await statusOf(instanceId)).to.equal('DRAINING');
    expect(w.notifications.events()).to.deep.equal(['holding']);

    // A recheck: already DRAINING (setting it again is harmless), the task still runs.
    w.clock.advance(30);
    const second = await gateStep(w.rechecks.scheduled.at(-1)!.body, w.deps);
    expect(second).to.include({ outcome: 'held' });
    expect(w.lifecycle.completions).to.have.length(0);

    await stopTask(ecs, cluster, work);
    w.clock.advance(30);
    const third = await gateStep(w.rechecks.scheduled.at(-1)!.body, w.deps);

    expect(third).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(w.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    const released = w.notifications.published.at(-1)!;
    expect(released.attributes.event).to.equal('released');
    // The notice names the task it waited for (not the daemon's).
    expect(released.message).to.include(work.slice(work.lastIndexOf('/') + 1));
    expect(released.message).to.match(/waited for 1 task\(s\)/);
  });

  it('releases at once an instance never registered in the cluster, saying so', async () => {
    const instanceId = fleet.instanceIds[3]!;
    const w = world();

    const step = await gateStep(terminateEvent({ instanceId }), w.deps);

    expect(step).to.include({ outcome: 'completed', result: 'CONTINUE' });
    expect(w.notifications.published.at(-1)!.message).to.include(
      `never registered in ECS cluster ${cluster.name}`,
    );
  });

  it('releases an instance with only daemon tasks at once', async () => {
    const instanceId = fleet.instanceIds[1]!;
    await startTask(ecs, cluster, instanceId, { daemon: true });
    const w = world();

    expect(await gateStep(terminateEvent({ instanceId }), w.deps)).to.include({
      outcome: 'completed',
    });
    expect(await statusOf(instanceId)).to.equal('DRAINING');
  });

  it('does not drain in a dry run', async () => {
    const instanceId = fleet.instanceIds[2]!;
    const work = await startTask(ecs, cluster, instanceId);
    const w = world({ THEMIS_DRY_RUN: 'true' });

    const step = await gateStep(terminateEvent({ instanceId }), w.deps);

    expect(step).to.include({ outcome: 'held', dryRun: true });
    expect(await statusOf(instanceId)).to.equal('ACTIVE');
    await stopTask(ecs, cluster, work);
  });

  it('holds (unknown), never releases, when ECS cannot be asked', async () => {
    const instanceId = fleet.instanceIds[2]!;
    const w = world();
    w.deps.ecs = {
      ...adapter,
      containerInstances: () =>
        Promise.reject(
          Object.assign(new Error('Rate exceeded'), {
            name: 'ThrottlingException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
          }),
        ),
      tasks: adapter.tasks.bind(adapter),
      services: adapter.services.bind(adapter),
      serviceArns: adapter.serviceArns.bind(adapter),
      taskReservation: adapter.taskReservation.bind(adapter),
      setContainerInstancesState: adapter.setContainerInstancesState.bind(adapter),
      setDesiredCount: adapter.setDesiredCount.bind(adapter),
    };

    const step = await gateStep(terminateEvent({ instanceId }), w.deps);

    expect(step).to.include({ outcome: 'held', decision: 'hold' });
    expect(w.lifecycle.completions).to.have.length(0);
  });

  it('keeps holding past the unknown limit while ECS fails: an API failure says nothing about the instance', async () => {
    // A busy instance (a task runs) and an ECS outage: before, the unknown limit released it
    // as "unreachable" and its task was killed (the simulator's ECS histories found it).
    const instanceId = fleet.instanceIds[1]!;
    const work = await startTask(ecs, cluster, instanceId);
    const w = world({ THEMIS_UNKNOWN_LIMIT: '1' });
    const failing = () =>
      Promise.reject(
        new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }),
      );
    const healthy = w.deps.ecs!;
    w.deps.ecs = { ...healthy, containerInstances: failing };

    let step = await gateStep(terminateEvent({ instanceId }), w.deps);
    for (let i = 0; i < 3; i++) {
      expect(step, `step ${i + 1}`).to.include({ outcome: 'held', decision: 'hold' });
      w.clock.advance(30);
      step = await gateStep(w.rechecks.scheduled.at(-1)!.body, w.deps);
    }
    expect(w.lifecycle.completions).to.have.length(0);

    // ECS answers again: the task still runs (held), then it stops (released).
    w.deps.ecs = healthy;
    w.clock.advance(30);
    step = await gateStep(w.rechecks.scheduled.at(-1)!.body, w.deps);
    expect(step).to.include({ outcome: 'held', decision: 'hold' });
    await stopTask(ecs, cluster, work);
    w.clock.advance(30);
    step = await gateStep(w.rechecks.scheduled.at(-1)!.body, w.deps);
    expect(step).to.include({ decision: 'release' });
  });
});
