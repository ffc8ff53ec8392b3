/**
 * The scale function's runs over the wire against moto_server: real Auto Scaling, ECS and
 * SQS adapters, metrics from a real HTTP server on loopback.
 *
 * moto does not model (test/helpers/moto-ecs.ts): DRAINING does not stop or move tasks,
 * pendingTasksCount is always 0, services start no tasks (UpdateService sets runningCount =
 * desiredCount at once), and there is no lifecycle hook wait: TerminateInstanceInAutoScaling
 * Group removes the instance at once. Those are the simulator's to cover.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateServiceCommand,
  DescribeServicesCommand,
  UpdateServiceCommand,
  type ECSClient,
} from '@aws-sdk/client-ecs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { AutoScalingCapacity } from '../../lib/aws/group-capacity.js';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import { SqsQueueDepth } from '../../lib/aws/queue-depth.js';
import { createRecordingLog } from '../../lib/log.js';
import { parseClusters } from '../../lib/scale/config.js';
import { createScaleHandler } from '../../lib/scale/handler.js';
import { createMetricReader } from '../../lib/scale/metrics.js';
import type { ScaleDeps } from '../../lib/scale/run.js';
import { createLoopbackFleet, startMoto, type Moto, type MotoFleet } from '../helpers/moto.js';
import {
  createMotoCluster,
  ecsClient,
  keepTasksRunning,
  startTask,
  WORKER_FAMILY,
  type MotoCluster,
} from '../helpers/moto-ecs.js';

describe('scale runs (moto)', function () {
  this.timeout(90_000);
  let moto: Moto;
  let ecs: ECSClient;
  let asg: AutoScalingClient;
  let sqs: SQSClient;
  let deps: ScaleDeps;
  let metricServer: Server;
  let metricUrl: string;
  let depth = 0;

  before(async () => {
    moto = await startMoto();
    await keepTasksRunning(moto);
    ecs = ecsClient(moto);
    asg = new AutoScalingClient(moto.clientConfig);
    sqs = new SQSClient(moto.clientConfig);
    deps = {
      ecs: new EcsAdapter(ecs),
      groups: new AutoScalingCapacity(asg),
      metrics: createMetricReader({ queues: new SqsQueueDepth(sqs) }),
      log: createRecordingLog(),
    };
    metricServer = createServer((_, res) => res.end(JSON.stringify({ queue: { depth } })));
    await new Promise<void>((r) => metricServer.listen(0, '127.0.0.1', () => r()));
    metricUrl = `http://127.0.0.1:${(metricServer.address() as AddressInfo).port}/stats`;
  });
  after(async () => {
    metricServer?.closeAllConnections();
    await new Promise((r) => metricServer?.close(r));
    ecs?.destroy();
    asg?.destroy();
    sqs?.destroy();
    await moto?.stop();
  });

  async function groupOf(name: string) {
    const out = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }),
    );
    return out.AutoScalingGroups![0]!;
  }

  async function service(cluster: MotoCluster, name: string, running: number) {
    await ecs.send(
      new CreateServiceCommand({
        cluster: cluster.name,
        serviceName: name,
        taskDefinition: WORKER_FAMILY,
        desiredCount: running,
      }),
    );
    // moto: a new service has runningCount 0; UpdateService makes runningCount = desiredCount.
    await ecs.send(
      new UpdateServiceCommand({ cluster: cluster.name, service: name, desiredCount: running }),
    );
  }

  async function desiredOf(cluster: MotoCluster, name: string): Promise<number> {
    const out = await ecs.send(
      new DescribeServicesCommand({ cluster: cluster.name, services: [name] }),
    );
    return out.services![0]!.desiredCount!;
  }

  function handlerFor(yaml: string, dryRun = false) {
    return createScaleHandler({
      ...deps,
      config: { clusters: parseClusters(yaml, 'clusters.yml'), dryRun },
    });
  }

  describe('scale-in', () => {
    let fleet: MotoFleet;
    let cluster: MotoCluster;
    const yaml = () => `
clusters:
  in-cluster:
    autoscale_group: ${fleet.groupName}
    cpu_buffer: 512
    mem_buffer: 1024
`;

    before(async () => {
      fleet = await createLoopbackFleet(moto, { groupName: 'scale-in', size: 3 });
      cluster = await createMotoCluster(ecs, 'in-cluster', fleet.instanceIds);
      const [a, b, c] = fleet.instanceIds as [string, string, string];
      await startTask(ecs, cluster, a);
      await startTask(ecs, cluster, b);
      for (const id of [a, b, c]) await startTask(ecs, cluster, id, { daemon: true });
    });

    it('reports what it would do in a dry run and changes nothing', async () => {
      const { clusters } = await handlerFor(yaml(), true)({});

      expect(clusters[0]!.action).to.deep.include({
        kind: 'scale-in',
        instanceId: fleet.instanceIds[2],
      });
      expect(clusters[0]!.acted).to.equal(false);
      expect((await groupOf(fleet.groupName)).DesiredCapacity).to.equal(3);
      const [ci] = await deps.ecs.containerInstances(cluster.name, {
        ec2InstanceIds: [fleet.instanceIds[2]!],
      });
      expect(ci!.status).to.equal('ACTIVE');
    });

    it('drains the emptiest instance by its full ARN and terminates it with a decrement', async () => {
      const c = fleet.instanceIds[2]!;
      const arn = cluster.containerInstances.get(c)!;
      // New-format ARN: …:container-instance/<cluster>/<id>. The seed's split('/')[1] read the
      // cluster name from it and drained nothing (or the wrong thing).
      expect(arn.split('/')[1]).to.equal(cluster.name);

      const { clusters } = await handlerFor(yaml())({});

      expect(clusters[0]).to.deep.include({ outcome: 'ok', acted: true });
      expect(clusters[0]!.action).to.deep.include({
        kind: 'scale-in',
        instanceId: c,
        containerInstanceArn: arn,
        from: 3,
        to: 2,
      });
      const [ci] = await deps.ecs.containerInstances(cluster.name, { ec2InstanceIds: [c] });
      expect(ci!.status).to.equal('DRAINING');
      const group = await groupOf(fleet.groupName);
      expect(group.DesiredCapacity).to.equal(2);
      // moto terminates at once (no hook wait): the instance has left the group.
      expect(group.Instances!.map((i) => i.InstanceId)).to.not.include(c);
    });

    it('keeps the instances when the tasks would not fit elsewhere with the buffers', async () => {
      // Each of the two left has 5370 MiB free; moving one's worker (2048 MiB) onto the other
      // would leave 3322, under a 4000 MiB buffer.
      const tight = yaml().replace('mem_buffer: 1024', 'mem_buffer: 4000');

      const { clusters } = await handlerFor(tight)({});

      expect(clusters[0]!.action).to.deep.include({ kind: 'none' });
      expect(clusters[0]!.action!.reason).to.match(
        /no instance would keep 512 CPU units and 4000 MiB/,
      );
      expect((await groupOf(fleet.groupName)).DesiredCapacity).to.equal(2);
    });

    it('sets the instance ACTIVE again when the termination fails', async () => {
      const [a] = fleet.instanceIds as [string];
      const failing: ScaleDeps = {
        ...deps,
        groups: {
          describeCapacity: (g, o) => deps.groups.describeCapacity(g, o),
          setDesiredCapacity: (g, n, o) => deps.groups.setDesiredCapacity(g, n, o),
          terminateInstance: () => Promise.reject(new Error('ScalingActivityInProgress')),
        },
      };
      const handler = createScaleHandler({
        ...failing,
        config: {
          clusters: parseClusters(
            yaml()
              .replace('cpu_buffer: 512', 'cpu_buffer: 0')
              .replace('mem_buffer: 1024', 'mem_buffer: 0'),
            'f',
          ),
          dryRun: false,
        },
      });

      const { clusters } = await handler({});

      expect(clusters[0]!.outcome).to.equal('failed');
      expect(clusters[0]!.message).to.match(
        /terminating i-\w+ failed \(set ACTIVE again\): ScalingActivityInProgress/,
      );
      const instances = await deps.ecs.containerInstances(cluster.name, {
        ec2InstanceIds: [a, fleet.instanceIds[1]!],
      });
      expect(instances.map((ci) => ci.status)).to.deep.equal(['ACTIVE', 'ACTIVE']);
    });
  });

  describe('scale-up and services', () => {
    let fleet: MotoFleet;
    let cluster: MotoCluster;

    before(async () => {
      fleet = await createLoopbackFleet(moto, { groupName: 'scale-up', size: 1 });
      cluster = await createMotoCluster(ecs, 'up-cluster', fleet.instanceIds);
      // Two workers reserve 2048 CPU / 4096 MiB of 4096 / 7482: 3386 MiB left.
      await startTask(ecs, cluster, fleet.instanceIds[0]!);
      await startTask(ecs, cluster, fleet.instanceIds[0]!);
      await service(cluster, 'web', 5);
      await service(cluster, 'worker', 1);
    });

    const yaml = () => `
clusters:
  up-cluster:
    autoscale_group: ${fleet.groupName}
    cpu_buffer: 512
    mem_buffer: 2048
    services:
      web:
        min: 0
        max: 2
      worker:
        min: 0
        max: 3
        metric: { url: "${metricUrl}", field: queue.depth }
        events:
          - { metric_min: 100, metric_max: null, action: 1 }
          - { metric_min: null, metric_max: 0, action: -1 }
`;

    it('sets services’ desired counts and scales up for the tasks they add', async () => {
      depth = 150;

      const { clusters } = await handlerFor(yaml())({});
      const report = clusters[0]!;

      expect(report.outcome).to.equal('ok');
      // web: 5 running, above max 2 → 2 (a decrease: it adds no tasks).
      expect(report.services.find((s) => s.name === 'web')).to.deep.include({
        desiredCount: 2,
        updated: true,
      });
      expect(await desiredOf(cluster, 'web')).to.equal(2);
      // worker: metric 150 ≥ 100 → +1 → 2, one task of 2048 MiB about to be added: with it the
      // only instance keeps 1338 MiB, under mem_buffer 2048 → scale up (and only that).
      expect(report.services.find((s) => s.name === 'worker')).to.deep.include({
        metric: 150,
        desiredCount: 2,
        updated: true,
      });
      expect(report.action).to.deep.include({ kind: 'scale-up', from: 1, to: 2 });
      expect((await groupOf(fleet.groupName)).DesiredCapacity).to.equal(2);
    });

    it('holds a service at its count when the metric cannot be read', async () => {
      const broken = yaml().replace(metricUrl, `${metricUrl.replace(/:\d+\//, ':1/')}`);

      const { clusters } = await handlerFor(broken, true)({});

      const worker = clusters[0]!.services.find((s) => s.name === 'worker')!;
      expect(worker.desiredCount).to.equal(worker.runningCount);
      expect(worker.reason).to.match(/no metric value.*\(metric: /);
    });
  });

  it('reports a group that does not exist and a service that does not exist', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'scale-missing', size: 1 });
    await createMotoCluster(ecs, 'missing-cluster', fleet.instanceIds);

    const { clusters } = await handlerFor(`
clusters:
  missing-cluster:
    autoscale_group: no-such-group
    cpu_buffer: 0
    mem_buffer: 0
  missing-cluster-2:
    autoscale_group: ${fleet.groupName}
    cpu_buffer: 0
    mem_buffer: 0
    enabled: false
`)({});

    expect(clusters.map((c) => c.outcome)).to.deep.equal(['not-found', 'disabled']);
  });
});
