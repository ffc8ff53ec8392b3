/**
 * The busy signal from ECS end to end: the real adapter over the wire against moto_server.
 * moto does not model draining (tasks stay RUNNING on a DRAINING instance until stopped),
 * pending tasks or service tasks; those semantics are the simulator's to cover.
 */
import type { ECSClient } from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import { observeEcsWork } from '../../lib/ecs/observe.js';
import { UpstreamError } from '../../lib/errors.js';
import type { EcsClusterState } from '../../lib/ports.js';
import { Deadline } from '../../lib/time.js';
import type { MotoFleet } from '../helpers/moto.js';
import {
  startEcsWorld,
  type EcsWorld,
  startTask,
  stopTask,
  type MotoCluster,
} from '../helpers/moto-ecs.js';

describe('ecs/observe', function () {
  this.timeout(60_000);
  let ecs: ECSClient;
  let fleet: MotoFleet;
  let cluster: MotoCluster;
  let ids: [string, string, string, string];

  let ecsWorld: EcsWorld;

  before(async () => {
    ecsWorld = await startEcsWorld({
      groupName: 'ecs-observe',
      size: 4,
      clusterName: 'observe',
      registered: 3,
    });
    ({ ecs, fleet, cluster } = ecsWorld);
    ids = fleet.instanceIds as typeof ids;
  });
  after(async () => {
    await ecsWorld?.stop();
  });

  it('tells busy, idle, daemon-only and unregistered instances apart', async () => {
    const [busy, daemonOnly, idle, unregistered] = ids;
    const work = await startTask(ecs, cluster, busy);
    await startTask(ecs, cluster, busy, { daemon: true });
    await startTask(ecs, cluster, daemonOnly, { daemon: true });
    await stopTask(ecs, cluster, await startTask(ecs, cluster, idle));

    const result = await observeEcsWork(cluster.name, ids, new EcsAdapter(ecs));

    expect(Object.fromEntries([...result].map(([id, w]) => [id, w.status]))).to.deep.equal({
      [busy]: 'busy',
      [daemonOnly]: 'idle',
      [idle]: 'idle',
      [unregistered]: 'unknown',
    });
    expect(result.get(busy)!.workTasks).to.deep.equal([work]);
    expect(result.get(unregistered)!.reason).to.equal('not registered in the ECS cluster');
    await stopTask(ecs, cluster, work);
  });

  it('reads one instance through its own task listing', async () => {
    const [one] = ids;
    const work = await startTask(ecs, cluster, one);

    const result = await observeEcsWork(cluster.arn, [one], new EcsAdapter(ecs));

    expect(result.get(one)).to.include({ status: 'busy' });
    await stopTask(ecs, cluster, work);
    expect(
      (await observeEcsWork(cluster.arn, [one], new EcsAdapter(ecs))).get(one)!.status,
    ).to.equal('idle');
  });

  it('answers unknown for every instance when the cluster does not exist', async () => {
    const result = await observeEcsWork('no-such-cluster', ids.slice(0, 2), new EcsAdapter(ecs));

    // moto lists no container instances for an unknown cluster, where ECS answers
    // ClusterNotFoundException; either way the instances are unknown, never idle.
    for (const work of result.values()) expect(work.status).to.equal('unknown');
  });

  it('answers unknown, never idle, when a later call fails', async () => {
    const adapter = new EcsAdapter(ecs);
    const failingTasks: EcsClusterState = {
      containerInstances: (c, q, o) => adapter.containerInstances(c, q, o),
      tasks: () =>
        Promise.reject(new UpstreamError('ListTasks observe', { cause: new Error('throttled') })),
      services: (c, n, o) => adapter.services(c, n, o),
      serviceArns: (c, o) => adapter.serviceArns(c, o),
      taskReservation: (t, o) => adapter.taskReservation(t, o),
    };

    const result = await observeEcsWork(cluster.name, [ids[1]], failingTasks);

    expect(result.get(ids[1])).to.include({ status: 'unknown' });
    expect(result.get(ids[1])!.reason).to.include('ListTasks observe failed: Error: throttled');
  });

  it('answers unknown by its deadline when ECS never answers, and aborts the call', async () => {
    let aborted = false;
    const hanging: EcsClusterState = {
      containerInstances: (_c, _q, o) =>
        new Promise((_, reject) => {
          o?.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
      tasks: () => Promise.resolve([]),
      services: () => Promise.resolve([]),
      serviceArns: () => Promise.resolve([]),
      taskReservation: () => Promise.reject(new Error('unused')),
    };

    const result = await observeEcsWork('jobs', ['i-1'], hanging, Deadline.after(50));

    expect(result.get('i-1')!.status).to.equal('unknown');
    expect(result.get('i-1')!.reason).to.match(/ECS observe jobs: no answer within \d+ ms/);
    expect(aborted).to.equal(true);
  });
});
