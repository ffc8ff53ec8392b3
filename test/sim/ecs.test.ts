/**
 * The ECS semantics moto lacks, in the simulator's ECS model (sim/ecs.ts): placement by CPU
 * and memory, services starting tasks, draining that moves service tasks elsewhere while
 * standalone tasks run to their end — and a cluster scaling in around a long task, with the
 * real scale function (lib/scale) and the real gate step (lib/gate/step.ts, ECS mode) on a
 * virtual clock. The Auto Scaling side here is a small stand-in (limits, members,
 * Terminating:Wait until the gate completes), not the simulator's full Fleet.
 */
import { expect } from 'chai';
import type { GroupCapacity, GroupCapacityInfo, GroupInstance } from '../../lib/ports.js';
import { createRecordingLog } from '../../lib/log.js';
import { gateStep } from '../../lib/gate/step.js';
import { parseClusters } from '../../lib/scale/config.js';
import { createScaleHandler } from '../../lib/scale/handler.js';
import { EcsClusterModel } from '../../sim/ecs.js';
import { GROUP, makeWorld, terminateEvent } from '../gate/fakes.js';

const SIZES = {
  web: { cpu: 1024, memoryMb: 2048 },
  batch: { cpu: 512, memoryMb: 1024 },
  agent: { cpu: 64, memoryMb: 64 },
};
const INSTANCE = { cpu: 4096, memoryMb: 8192 };

/** Auto Scaling, as far as the scale function sees it: limits, members, terminate-with-hook. */
class GroupModel implements GroupCapacity {
  readonly members: GroupInstance[] = [];
  desired: number;
  constructor(
    readonly name: string,
    readonly minSize: number,
    readonly maxSize: number,
    ids: string[],
  ) {
    for (const instanceId of ids) {
      this.members.push({ instanceId, lifecycleState: 'InService', protectedFromScaleIn: false });
    }
    this.desired = ids.length;
  }
  async describeCapacity(): Promise<GroupCapacityInfo> {
    return {
      name: this.name,
      minSize: this.minSize,
      maxSize: this.maxSize,
      desiredCapacity: this.desired,
      instances: this.members.map((m) => ({ ...m })),
    };
  }
  async setDesiredCapacity(_: string, n: number): Promise<void> {
    this.desired = n;
  }
  /** With the decrement; the lifecycle hook holds the instance in Terminating:Wait. */
  async terminateInstance(instanceId: string): Promise<void> {
    const m = this.members.find((x) => x.instanceId === instanceId)!;
    m.lifecycleState = 'Terminating:Wait';
    this.desired -= 1;
  }
  gone(instanceId: string): void {
    this.members.splice(
      this.members.findIndex((m) => m.instanceId === instanceId),
      1,
    );
  }
}

describe('sim/ecs', () => {
  it('places tasks by CPU and memory and keeps a service at its count (pending when full)', async () => {
    let now = 0;
    const ecs = new EcsClusterModel('jobs', () => now, SIZES);
    ecs.register('i-1', { cpu: 2048, memoryMb: 4096 });
    ecs.createService('web', 'web', 3);

    const [web] = await ecs.services('jobs', ['web']);
    // Two fit (2 × 2048 MiB of 4096); the third waits for room.
    expect(web).to.include({ runningCount: 2, pendingCount: 1 });
    ecs.register('i-2', { cpu: 2048, memoryMb: 4096 });
    expect((await ecs.services('jobs', ['web']))[0]).to.include({
      runningCount: 3,
      pendingCount: 0,
    });
    now += 1;
  });

  it('moves service tasks off a DRAINING instance and lets standalone tasks finish', async () => {
    let now = 0;
    const ecs = new EcsClusterModel('jobs', () => now, SIZES);
    const a = ecs.register('i-1', INSTANCE);
    ecs.register('i-2', INSTANCE);
    ecs.createService('web', 'web', 2);
    const batch = ecs.runTask('batch', 3_600_000, 'i-1')!;

    await ecs.setContainerInstancesState('jobs', [a], 'DRAINING');

    const onA = (await ecs.tasks('jobs', { containerInstance: a })).filter(
      (t) => t.lastStatus !== 'STOPPED',
    );
    expect(onA.map((t) => t.arn)).to.deep.equal([batch]);
    expect((await ecs.services('jobs', ['web']))[0]!.runningCount).to.equal(2);
    now = 3_600_000;
    ecs.reconcile();
    const stopped = (await ecs.tasks('jobs', { containerInstance: a })).find(
      (t) => t.arn === batch,
    )!;
    expect(stopped).to.include({ lastStatus: 'STOPPED', stoppedAtMs: 3_600_000 });
  });

  it('scales a cluster in around a long task: the gate holds the instance until the task ends', async () => {
    const w = makeWorld({ heartbeatTimeoutSeconds: 600 });
    const now = w.clock;
    const ecs = new EcsClusterModel('jobs', now, SIZES);
    w.deps.ecs = ecs;
    // The hook's group names its cluster by tag (ECS mode).
    w.groups.tags.set(GROUP, { 'themis:ecs-cluster': 'jobs' });
    const group = new GroupModel(GROUP, 1, 4, ['i-00000001', 'i-00000002', 'i-00000003']);
    for (const id of ['i-00000001', 'i-00000002', 'i-00000003']) ecs.register(id, INSTANCE);
    ecs.createService('log-agent', 'agent', 0, 'DAEMON');
    ecs.createService('web', 'web', 1);
    const longTask = ecs.runTask('batch', 2 * 3600_000, 'i-00000003')!;

    const scale = createScaleHandler({
      config: {
        clusters: parseClusters(
          `clusters:\n  jobs:\n    autoscale_group: ${GROUP}\n    cpu_buffer: 512\n    mem_buffer: 1024\n    services:\n      web: { min: 1, max: 3 }\n`,
          'clusters.yml',
        ),
        dryRun: false,
      },
      ecs,
      groups: group,
      metrics: { read: () => Promise.reject(new Error('no metric in this story')) },
      log: createRecordingLog(),
    });
    /** Complete → the instance terminates and leaves the cluster. */
    const settle = (instanceId: string) => {
      if (w.lifecycle.completions.some((c) => c.ref.instanceId === instanceId)) {
        group.gone(instanceId);
        ecs.deregister(instanceId);
      }
    };
    const step = async (input: unknown) => {
      w.lifecycle.ended = false;
      return gateStep(input, w.deps);
    };

    // Run 1: i-00000002 runs only the daemon: drained, terminated, released at once.
    let run = await scale({});
    expect(run.clusters[0]!.action).to.deep.include({
      kind: 'scale-in',
      instanceId: 'i-00000002',
    });
    expect((await step(terminateEvent({ instanceId: 'i-00000002' }))).outcome).to.equal(
      'completed',
    );
    settle('i-00000002');

    // Run 2: i-00000003 (the long task, 1088 MiB) has less reserved memory than i-00000001 (web): its task
    // would fit on i-1, so it is drained and terminated with a decrement…
    now.advance(60);
    run = await scale({});
    expect(run.clusters[0]!.action).to.deep.include({
      kind: 'scale-in',
      instanceId: 'i-00000003',
      to: 1,
    });
    // …and the gate holds it while the task runs (ECS does not move a standalone task).
    let held = await step(
      terminateEvent({ instanceId: 'i-00000003', time: new Date(now()).toISOString() }),
    );
    expect(held).to.include({ outcome: 'held' });

    // An hour of rechecks: still held; the scale function does nothing meanwhile (MinSize 1).
    for (let minute = 0; minute < 60; minute += 10) {
      now.advance(600);
      ecs.reconcile();
      held = await step(w.rechecks.scheduled.at(-1)!.body);
      expect(held.outcome, `minute ${minute}`).to.equal('held');
      expect((await scale({})).clusters[0]!.action!.kind).to.equal('none');
    }
    expect(w.lifecycle.completions.filter((c) => c.ref.instanceId === 'i-00000003')).to.have.length(
      0,
    );

    // The task ends after two hours: the next recheck releases the instance, naming it.
    now.advance(3600);
    ecs.reconcile();
    const released = await step(w.rechecks.scheduled.at(-1)!.body);
    expect(released).to.include({ outcome: 'completed', result: 'CONTINUE' });
    const notice = w.notifications.published.at(-1)!;
    expect(notice.attributes.event).to.equal('released');
    expect(notice.message).to.include(longTask.slice(longTask.lastIndexOf('/') + 1));
    // The long task ran to its end, not killed by the scale-in.
    expect(ecs.events).to.include('family:batch stopped on i-00000003: essential container exited');
    expect(ecs.events.filter((e) => e.startsWith('family:batch stopped'))).to.have.length(1);
    settle('i-00000003');
    expect((await ecs.services('jobs', ['web']))[0]!.runningCount).to.equal(1);
  });
});
