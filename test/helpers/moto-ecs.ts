/**
 * ECS on moto_server: a cluster whose container instances are the EC2 instances of a
 * loopback fleet (test/helpers/moto.ts), task definitions sized for placement, and tasks
 * placed on chosen instances.
 *
 * What moto does not model, and the tests must not mistake for coverage (DESIGN.md; the fleet
 * simulator is where those semantics belong):
 * - DRAINING does not stop or move tasks: a draining instance keeps its tasks until a test
 *   stops them.
 * - pendingTasksCount is always 0, and tasks start RUNNING.
 * - services start no tasks: UpdateService only sets runningCount = desiredCount.
 * - ListContainerInstances ignores `filter` and `status`; ListTasks ignores `serviceName`.
 * - every DescribeTasks advances a task one step towards STOPPED (its "manual" state
 *   transition), so `keepTasksRunning` turns that off: a task stops when a test stops it.
 */
import {
  CreateClusterCommand,
  CreateServiceCommand,
  ECSClient,
  RegisterContainerInstanceCommand,
  RegisterTaskDefinitionCommand,
  StartTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import {
  createLoopbackFleet,
  setTransition,
  startMoto,
  type Moto,
  type MotoFleet,
} from './moto.js';

export const WORKER_FAMILY = 'worker';
export const DAEMON_FAMILY = 'log-agent';
export const DAEMON_SERVICE = 'log-agent';

export interface MotoCluster {
  name: string;
  arn: string;
  /** EC2 instance id → container instance ARN. */
  containerInstances: Map<string, string>;
}

export function ecsClient(moto: Moto): ECSClient {
  return new ECSClient(moto.clientConfig);
}

export interface EcsWorld {
  moto: Moto;
  ecs: ECSClient;
  fleet: MotoFleet;
  cluster: MotoCluster;
  /** Destroys the client and stops moto. */
  stop(): Promise<void>;
}

/**
 * moto with tasks kept running, an ECS client, a loopback fleet of `size` instances in group
 * `groupName`, and a cluster named `clusterName` with the first `registered` of them
 * registered (the others stay plain EC2 instances).
 */
export async function startEcsWorld(options: {
  groupName: string;
  size: number;
  clusterName: string;
  registered: number;
}): Promise<EcsWorld> {
  const moto = await startMoto();
  const ecs = ecsClient(moto);
  try {
    await keepTasksRunning(moto);
    const fleet = await createLoopbackFleet(moto, {
      groupName: options.groupName,
      size: options.size,
    });
    const cluster = await createMotoCluster(
      ecs,
      options.clusterName,
      fleet.instanceIds.slice(0, options.registered),
    );
    return {
      moto,
      ecs,
      fleet,
      cluster,
      stop: async () => {
        ecs.destroy();
        await moto.stop();
      },
    };
  } catch (err) {
    ecs.destroy();
    await moto.stop();
    throw err;
  }
}

/** Tasks stay as they are until a test stops them (see the header). */
export async function keepTasksRunning(moto: Moto): Promise<void> {
  await setTransition(moto, 'ecs::task', { progression: 'manual', times: 1_000_000 });
}

/**
 * A cluster with the given EC2 instances registered as container instances (4096 CPU units,
 * 7482 MiB each in moto), a worker task definition (1024 CPU, 2048 MiB) and a daemon service
 * (its tasks are started by `startTask(..., { daemon: true })`: moto's services start none).
 */
export async function createMotoCluster(
  ecs: ECSClient,
  name: string,
  ec2InstanceIds: string[],
): Promise<MotoCluster> {
  const cluster = await ecs.send(new CreateClusterCommand({ clusterName: name }));
  const containerInstances = new Map<string, string>();
  for (const instanceId of ec2InstanceIds) {
    const out = await ecs.send(
      new RegisterContainerInstanceCommand({
        cluster: name,
        instanceIdentityDocument: JSON.stringify({ instanceId }),
      }),
    );
    containerInstances.set(instanceId, out.containerInstance!.containerInstanceArn!);
  }
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: WORKER_FAMILY,
      containerDefinitions: [{ name: 'worker', image: 'worker:1', cpu: 1024, memory: 2048 }],
    }),
  );
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: DAEMON_FAMILY,
      containerDefinitions: [{ name: 'agent', image: 'agent:1', cpu: 64, memory: 64 }],
    }),
  );
  await ecs.send(
    new CreateServiceCommand({
      cluster: name,
      serviceName: DAEMON_SERVICE,
      taskDefinition: DAEMON_FAMILY,
      schedulingStrategy: 'DAEMON',
    }),
  );
  return { name, arn: cluster.cluster!.clusterArn!, containerInstances };
}

/** Start one task on one container instance; returns its ARN. */
export async function startTask(
  ecs: ECSClient,
  cluster: MotoCluster,
  ec2InstanceId: string,
  options: { daemon?: boolean; group?: string } = {},
): Promise<string> {
  const containerInstance = cluster.containerInstances.get(ec2InstanceId);
  if (!containerInstance) throw new Error(`${ec2InstanceId} is not registered in ${cluster.name}`);
  const out = await ecs.send(
    new StartTaskCommand({
      cluster: cluster.name,
      taskDefinition: options.daemon ? DAEMON_FAMILY : WORKER_FAMILY,
      containerInstances: [containerInstance],
      ...(options.daemon
        ? { group: `service:${DAEMON_SERVICE}` }
        : options.group
          ? { group: options.group }
          : {}),
    }),
  );
  return out.tasks![0]!.taskArn!;
}

export async function stopTask(ecs: ECSClient, cluster: MotoCluster, taskArn: string) {
  await ecs.send(new StopTaskCommand({ cluster: cluster.name, task: taskArn, reason: 'test' }));
}
