/**
 * The ECS adapter over the wire against moto_server: real SDK serialisation, real HTTP, moto's
 * ECS model. What moto does not model is listed in test/helpers/moto-ecs.ts and pinned down
 * here where it shows (DRAINING keeps tasks, services start none), so nobody mistakes it for
 * coverage of those semantics.
 */
import { CreateServiceCommand, DescribeServicesCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';
import type { MotoFleet } from '../helpers/moto.js';
import {
  startEcsWorld,
  type EcsWorld,
  startTask,
  stopTask,
  WORKER_FAMILY,
  type MotoCluster,
} from '../helpers/moto-ecs.js';

describe('aws/ecs over the wire (moto)', function () {
  this.timeout(60_000);
  let ecs: ECSClient;
  let adapter: EcsAdapter;
  let fleet: MotoFleet;
  let cluster: MotoCluster;

  let ecsWorld: EcsWorld;

  before(async () => {
    // The third instance is never registered.
    ecsWorld = await startEcsWorld({
      groupName: 'ecs-wire',
      size: 3,
      clusterName: 'wire',
      registered: 2,
    });
    ({ ecs, fleet, cluster } = ecsWorld);
    adapter = new EcsAdapter(ecs);
  });
  after(async () => {
    await ecsWorld?.stop();
  });

  it('finds the container instances of the EC2 instances asked for (moto ignores filter)', async () => {
    const [a, b, c] = fleet.instanceIds as [string, string, string];

    const found = await adapter.containerInstances(cluster.name, { ec2InstanceIds: [b, c] });

    expect(found.map((ci) => ci.ec2InstanceId)).to.deep.equal([b]);
    expect(found[0]!.arn).to.equal(cluster.containerInstances.get(b));
    expect(found[0]!.status).to.equal('ACTIVE');
    expect(found[0]!.registered).to.deep.equal({ cpu: 4096, memoryMb: 7482 });
    const all = await adapter.containerInstances(cluster.arn);
    expect(all.map((ci) => ci.ec2InstanceId).sort()).to.deep.equal([a, b].sort());
  });

  it('reads running and stopped tasks with their group and instance', async () => {
    const [a] = fleet.instanceIds as [string];
    const worker = await startTask(ecs, cluster, a);
    const daemon = await startTask(ecs, cluster, a, { daemon: true });
    const done = await startTask(ecs, cluster, a);
    await stopTask(ecs, cluster, done);

    const tasks = await adapter.tasks(cluster.name, {
      containerInstance: cluster.containerInstances.get(a)!,
    });
    const byArn = new Map(tasks.map((t) => [t.arn, t]));

    expect(byArn.get(worker)).to.include({
      lastStatus: 'RUNNING',
      group: `family:${WORKER_FAMILY}`,
    });
    expect(byArn.get(worker)!.containerInstanceArn).to.equal(cluster.containerInstances.get(a));
    expect(byArn.get(daemon)).to.include({ lastStatus: 'RUNNING', group: 'service:log-agent' });
    expect(byArn.get(done)).to.include({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
    const [ci] = await adapter.containerInstances(cluster.name, { ec2InstanceIds: [a] });
    // Two running tasks reserve 1024 + 64 CPU units and 2048 + 64 MiB.
    expect(ci!.remaining).to.deep.equal({ cpu: 4096 - 1088, memoryMb: 7482 - 2112 });
  });

  it('tells a daemon service by its scheduling strategy', async () => {
    const [service] = await adapter.services(cluster.name, ['log-agent', 'no-such-service']);

    expect(service).to.include({ name: 'log-agent', schedulingStrategy: 'DAEMON' });
    expect(await adapter.serviceArns(cluster.name)).to.deep.equal([service!.arn]);
  });

  it('sets DRAINING, and setting it again is accepted (moto: the tasks stay where they are)', async () => {
    const [a] = fleet.instanceIds as [string];
    const arn = cluster.containerInstances.get(a)!;
    const before = await adapter.tasks(cluster.name, { containerInstance: arn });

    await adapter.setContainerInstancesState(cluster.name, [arn], 'DRAINING');
    await adapter.setContainerInstancesState(cluster.name, [arn], 'DRAINING');

    const [ci] = await adapter.containerInstances(cluster.name, { ec2InstanceIds: [a] });
    expect(ci!.status).to.equal('DRAINING');
    // Real ECS would stop the service tasks and move them; moto keeps every task RUNNING.
    const after = await adapter.tasks(cluster.name, { containerInstance: arn });
    expect(after.map((t) => t.lastStatus)).to.deep.equal(before.map((t) => t.lastStatus));
    await adapter.setContainerInstancesState(cluster.name, [arn], 'ACTIVE');
  });

  it('sets a service’s desired count (moto: no task is started for it)', async () => {
    await ecs.send(
      new CreateServiceCommand({
        cluster: cluster.name,
        serviceName: 'web',
        taskDefinition: WORKER_FAMILY,
        desiredCount: 1,
      }),
    );
    const tasksBefore = await adapter.tasks(cluster.name);

    await adapter.setDesiredCount(cluster.name, 'web', 3);

    const out = await ecs.send(
      new DescribeServicesCommand({ cluster: cluster.name, services: ['web'] }),
    );
    expect(out.services![0]!.desiredCount).to.equal(3);
    expect(await adapter.tasks(cluster.name)).to.have.length(tasksBefore.length);
  });

  it("reads a task definition's reservation", async () => {
    expect(await adapter.taskReservation(WORKER_FAMILY)).to.include({ cpu: 1024, memoryMb: 2048 });
  });

  it('wraps an unknown cluster in UpstreamError naming the call', async () => {
    const err = await adapter.services('no-such-cluster', ['web']).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect(awsErrorName(err)).to.equal('ClusterNotFoundException');
    expect(String(err)).to.include('DescribeServices no-such-cluster');
  });
});
