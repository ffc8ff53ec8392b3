import {
  DescribeContainerInstancesCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ListContainerInstancesCommand,
  ListServicesCommand,
  ListTasksCommand,
  UpdateContainerInstancesStateCommand,
  UpdateServiceCommand,
  type ContainerInstance,
  type DescribeContainerInstancesCommandInput,
  type DescribeServicesCommandInput,
  type DescribeTasksCommandInput,
  type ListContainerInstancesCommandInput,
  type ListTasksCommandInput,
  type Task,
  type UpdateContainerInstancesStateCommandInput,
} from '@aws-sdk/client-ecs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import {
  EcsAdapter,
  lastSegment,
  MAX_DESCRIBE_BATCH,
  MAX_SERVICES_PER_DESCRIBE,
  MAX_STATE_CHANGE_BATCH,
} from '../../lib/aws/ecs.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';

const CLUSTER = 'jobs';
const ciArn = (n: number) =>
  `arn:aws:ecs:us-east-1:123456789012:container-instance/${CLUSTER}/ci-${n}`;
const taskArn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/t-${n}`;

function ecsError(name: string, message: string): ECSServiceException {
  return new ECSServiceException({
    name,
    message,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

function containerInstance(n: number, extra: Partial<ContainerInstance> = {}): ContainerInstance {
  return {
    containerInstanceArn: ciArn(n),
    ec2InstanceId: `i-${n}`,
    status: 'ACTIVE',
    agentConnected: true,
    registeredResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: 3800 },
    ],
    remainingResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: 1024 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: 1800 },
    ],
    runningTasksCount: 1,
    pendingTasksCount: 0,
    ...extra,
  };
}

/** Pages of `size` over `items`, the way the List* calls hand out nextToken. */
function paged<T>(items: T[], size: number, token: string | undefined) {
  const start = Number(token ?? 0);
  return {
    page: items.slice(start, start + size),
    nextToken: start + size < items.length ? String(start + size) : undefined,
  };
}

/**
 * A cluster as ECS documents it: List* pages of at most `pageSize`, Describe* refusing more
 * than the API's batch sizes (as ECS does, with InvalidParameterException). `honourFilter`
 * false is moto: `filter` is ignored and every container instance comes back.
 */
function fakeCluster(options: {
  instances: ContainerInstance[];
  tasks?: Task[];
  pageSize?: number;
  honourFilter?: boolean;
}) {
  const pageSize = options.pageSize ?? 3;
  const seen = {
    listInstances: [] as ListContainerInstancesCommandInput[],
    describeInstances: [] as DescribeContainerInstancesCommandInput[],
    listTasks: [] as ListTasksCommandInput[],
    describeTasks: [] as DescribeTasksCommandInput[],
  };
  const listInstances = (input: ListContainerInstancesCommandInput) => {
    seen.listInstances.push(structuredClone(input));
    let items = options.instances;
    const m = /^ec2InstanceId in \[(.*)\]$/.exec(input.filter ?? '');
    if (m && options.honourFilter !== false) {
      const ids = m[1]!.split(',').map((s) => s.trim().replace(/^'|'$/g, ''));
      items = items.filter((i) => ids.includes(i.ec2InstanceId!));
    }
    const { page, nextToken } = paged(items, pageSize, input.nextToken);
    return { containerInstanceArns: page.map((i) => i.containerInstanceArn!), nextToken };
  };
  const describeInstances = (input: DescribeContainerInstancesCommandInput) => {
    seen.describeInstances.push(structuredClone(input));
    if (input.containerInstances!.length > MAX_DESCRIBE_BATCH) {
      throw ecsError('InvalidParameterException', 'too many container instances');
    }
    return {
      containerInstances: options.instances.filter((i) =>
        input.containerInstances!.includes(i.containerInstanceArn!),
      ),
      failures: [],
    };
  };
  const listTasks = (input: ListTasksCommandInput) => {
    seen.listTasks.push(structuredClone(input));
    const items = (options.tasks ?? []).filter(
      (t) =>
        t.desiredStatus === (input.desiredStatus ?? 'RUNNING') &&
        (!input.containerInstance || t.containerInstanceArn === input.containerInstance),
    );
    const { page, nextToken } = paged(items, pageSize, input.nextToken);
    return { taskArns: page.map((t) => t.taskArn!), nextToken };
  };
  const describeTasks = (input: DescribeTasksCommandInput) => {
    seen.describeTasks.push(structuredClone(input));
    if (input.tasks!.length > MAX_DESCRIBE_BATCH) {
      throw ecsError('InvalidParameterException', 'too many tasks');
    }
    return { tasks: (options.tasks ?? []).filter((t) => input.tasks!.includes(t.taskArn!)) };
  };
  return { seen, listInstances, describeInstances, listTasks, describeTasks };
}

function task(n: number, extra: Partial<Task> = {}): Task {
  return {
    taskArn: taskArn(n),
    group: 'service:web',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    containerInstanceArn: ciArn(1),
    ...extra,
  };
}

describe('aws/ecs', () => {
  let ecs: AwsClientStub<ECSClient>;
  let adapter: EcsAdapter;

  beforeEach(() => {
    ecs = mockClient(ECSClient);
    adapter = new EcsAdapter(new ECSClient({ region: 'us-east-1' }));
  });
  afterEach(() => {
    ecs.restore();
  });

  function install(fake: ReturnType<typeof fakeCluster>) {
    ecs.on(ListContainerInstancesCommand).callsFake(fake.listInstances);
    ecs.on(DescribeContainerInstancesCommand).callsFake(fake.describeInstances);
    ecs.on(ListTasksCommand).callsFake(fake.listTasks);
    ecs.on(DescribeTasksCommand).callsFake(fake.describeTasks);
  }

  describe('container instances', () => {
    it('lists across pages and describes in batches of at most 100', async () => {
      const instances = Array.from({ length: 230 }, (_, i) => containerInstance(i));
      const fake = fakeCluster({ instances, pageSize: 100 });
      install(fake);

      const found = await adapter.containerInstances(CLUSTER);

      expect(found.map((c) => c.arn)).to.deep.equal(instances.map((i) => i.containerInstanceArn));
      expect(fake.seen.listInstances.map((s) => s.nextToken)).to.deep.equal([
        undefined,
        '100',
        '200',
      ]);
      expect(fake.seen.listInstances.every((s) => s.maxResults === 100)).to.equal(true);
      expect(fake.seen.describeInstances.map((s) => s.containerInstances!.length)).to.deep.equal([
        100, 100, 30,
      ]);
    });

    it('maps resources, counts and status', async () => {
      install(fakeCluster({ instances: [containerInstance(1, { status: 'DRAINING' })] }));

      const [found] = await adapter.containerInstances(CLUSTER);

      expect(found).to.deep.equal({
        arn: ciArn(1),
        ec2InstanceId: 'i-1',
        status: 'DRAINING',
        agentConnected: true,
        registered: { cpu: 2048, memoryMb: 3800 },
        remaining: { cpu: 1024, memoryMb: 1800 },
        runningTasksCount: 1,
        pendingTasksCount: 0,
      });
    });

    it('asks by ec2InstanceId filter and filters client-side when the endpoint ignores it', async () => {
      const instances = [1, 2, 3, 4].map((n) => containerInstance(n));
      const fake = fakeCluster({ instances, honourFilter: false });
      install(fake);

      const found = await adapter.containerInstances(CLUSTER, { ec2InstanceIds: ['i-2', 'i-4'] });

      expect(found.map((c) => c.ec2InstanceId)).to.deep.equal(['i-2', 'i-4']);
      expect(fake.seen.listInstances[0]!.filter).to.equal("ec2InstanceId in ['i-2','i-4']");
    });

    it('splits a long id list over several filters of at most 50 ids', async () => {
      const instances = Array.from({ length: 120 }, (_, i) => containerInstance(i));
      const fake = fakeCluster({ instances, pageSize: 100 });
      install(fake);

      const found = await adapter.containerInstances(CLUSTER, {
        ec2InstanceIds: instances.map((i) => i.ec2InstanceId!),
      });

      expect(found).to.have.length(120);
      const filters = fake.seen.listInstances.filter((s) => !s.nextToken).map((s) => s.filter!);
      expect(filters.map((f) => f.split(',').length)).to.deep.equal([50, 50, 20]);
    });

    it('leaves out INACTIVE instances unless asked for a status', async () => {
      install(
        fakeCluster({
          instances: [containerInstance(1), containerInstance(2, { status: 'INACTIVE' })],
        }),
      );

      expect((await adapter.containerInstances(CLUSTER)).map((c) => c.arn)).to.deep.equal([
        ciArn(1),
      ]);
    });

    it('makes no call for an empty id list', async () => {
      const fake = fakeCluster({ instances: [containerInstance(1)] });
      install(fake);

      expect(await adapter.containerInstances(CLUSTER, { ec2InstanceIds: [] })).to.deep.equal([]);
      expect(fake.seen.listInstances).to.have.length(0);
    });

    it('stops on a repeated nextToken instead of looping', async () => {
      ecs.on(ListContainerInstancesCommand).resolves({ containerInstanceArns: [], nextToken: 'x' });

      const err = await adapter.containerInstances(CLUSTER).catch((e: unknown) => e);

      expect(err).to.be.instanceOf(UpstreamError);
      expect(String(err)).to.match(/repeated nextToken/);
      expect(ecs.commandCalls(ListContainerInstancesCommand)).to.have.length(2);
    });
  });

  describe('tasks', () => {
    it('reads tasks of both desired statuses: a task being stopped still runs', async () => {
      const tasks = [
        task(1),
        task(2, { desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' }),
        task(3, { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' }),
      ];
      const fake = fakeCluster({ instances: [], tasks });
      install(fake);

      const found = await adapter.tasks(CLUSTER);

      expect(found.map((t) => [t.arn, t.lastStatus])).to.deep.equal([
        [taskArn(1), 'RUNNING'],
        [taskArn(2), 'DEACTIVATING'],
        [taskArn(3), 'STOPPED'],
      ]);
      expect(fake.seen.listTasks.map((s) => s.desiredStatus)).to.deep.equal(['RUNNING', 'STOPPED']);
    });

    it('pages ListTasks and describes in batches of at most 100', async () => {
      const tasks = Array.from({ length: 250 }, (_, i) => task(i));
      const fake = fakeCluster({ instances: [], tasks, pageSize: 100 });
      install(fake);

      const found = await adapter.tasks(CLUSTER);

      expect(found).to.have.length(250);
      expect(fake.seen.describeTasks.map((s) => s.tasks!.length)).to.deep.equal([100, 100, 50]);
      expect(fake.seen.listTasks.every((s) => s.maxResults === 100)).to.equal(true);
    });

    it('narrows to one container instance, client-side as well', async () => {
      const tasks = [task(1), task(2, { containerInstanceArn: ciArn(2) })];
      // An endpoint that ignores the containerInstance parameter.
      ecs.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => ({
        taskArns: tasks
          .filter((t) => t.desiredStatus === input.desiredStatus)
          .map((t) => t.taskArn!),
      }));
      ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => ({
        tasks: tasks.filter((t) => input.tasks!.includes(t.taskArn!)),
      }));

      const found = await adapter.tasks(CLUSTER, { containerInstance: ciArn(2) });

      expect(found.map((t) => t.arn)).to.deep.equal([taskArn(2)]);
      expect(ecs.commandCalls(ListTasksCommand)[0]!.args[0].input.containerInstance).to.equal(
        ciArn(2),
      );
    });

    it('reads task-level sizes in units and vCPU/GB', async () => {
      install(
        fakeCluster({
          instances: [],
          tasks: [
            task(1, { cpu: '256', memory: '512' }),
            task(2, { cpu: '1 vCPU', memory: '2 GB' }),
          ],
        }),
      );

      const found = await adapter.tasks(CLUSTER);

      expect(found.map((t) => [t.cpu, t.memoryMb])).to.deep.equal([
        [256, 512],
        [1024, 2048],
      ]);
    });
  });

  describe('services', () => {
    it('describes at most 10 services per call and leaves out missing ones', async () => {
      const names = Array.from({ length: 23 }, (_, i) => `svc-${i}`);
      const seen: DescribeServicesCommandInput[] = [];
      ecs.on(DescribeServicesCommand).callsFake((input: DescribeServicesCommandInput) => {
        seen.push(input);
        if (input.services!.length > MAX_SERVICES_PER_DESCRIBE)
          throw ecsError('InvalidParameterException', 'max 10');
        return {
          services: input
            .services!.filter((s) => s !== 'svc-5')
            .map((s) => ({
              serviceName: s,
              serviceArn: `arn:aws:ecs:us-east-1:123456789012:service/${CLUSTER}/${s}`,
              schedulingStrategy: s === 'svc-0' ? 'DAEMON' : 'REPLICA',
              status: 'ACTIVE',
              desiredCount: 2,
              runningCount: 1,
              pendingCount: 1,
              taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/web:3',
            })),
          failures: [{ arn: 'svc-5', reason: 'MISSING' }],
        };
      });

      const found = await adapter.services(CLUSTER, names);

      expect(seen.map((s) => s.services!.length)).to.deep.equal([10, 10, 3]);
      expect(found).to.have.length(22);
      expect(found[0]).to.include({ name: 'svc-0', schedulingStrategy: 'DAEMON', runningCount: 1 });
    });

    it('lists service ARNs across pages', async () => {
      ecs
        .on(ListServicesCommand, { nextToken: undefined })
        .resolves({ serviceArns: ['a', 'b'], nextToken: 'p2' })
        .on(ListServicesCommand, { nextToken: 'p2' })
        .resolves({ serviceArns: ['c'] });

      expect(await adapter.serviceArns(CLUSTER)).to.deep.equal(['a', 'b', 'c']);
    });

    it('sets a desired count with UpdateService', async () => {
      ecs.on(UpdateServiceCommand).resolves({});

      await adapter.setDesiredCount(CLUSTER, 'web', 4);

      expect(ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input).to.deep.equal({
        cluster: CLUSTER,
        service: 'web',
        desiredCount: 4,
      });
    });
  });

  describe('task reservations', () => {
    it('uses the task-level size when set', async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: {
          taskDefinitionArn: 'td:1',
          cpu: '512',
          memory: '1 GB',
          containerDefinitions: [{ name: 'a', cpu: 100, memory: 100 }],
        },
      });

      expect(await adapter.taskReservation('web')).to.deep.equal({
        taskDefinitionArn: 'td:1',
        cpu: 512,
        memoryMb: 1024,
      });
    });

    it("sums the containers' cpu and soft memory limit otherwise", async () => {
      ecs.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: {
          taskDefinitionArn: 'td:2',
          containerDefinitions: [
            { name: 'a', cpu: 128, memory: 512, memoryReservation: 256 },
            { name: 'b', cpu: 64, memory: 300 },
          ],
        },
      });

      expect(await adapter.taskReservation('web')).to.deep.equal({
        taskDefinitionArn: 'td:2',
        cpu: 192,
        memoryMb: 556,
      });
    });
  });

  describe('container instance state', () => {
    it('changes state in batches of at most 10', async () => {
      const seen: UpdateContainerInstancesStateCommandInput[] = [];
      ecs
        .on(UpdateContainerInstancesStateCommand)
        .callsFake((input: UpdateContainerInstancesStateCommandInput) => {
          seen.push(input);
          if (input.containerInstances!.length > MAX_STATE_CHANGE_BATCH)
            throw ecsError('InvalidParameterException', 'max 10');
          return { containerInstances: [], failures: [] };
        });

      await adapter.setContainerInstancesState(
        CLUSTER,
        Array.from({ length: 25 }, (_, i) => ciArn(i)),
        'DRAINING',
      );

      expect(seen.map((s) => s.containerInstances!.length)).to.deep.equal([10, 10, 5]);
      expect(seen.every((s) => s.status === 'DRAINING' && s.cluster === CLUSTER)).to.equal(true);
    });

    it('throws when ECS reports a failure for an instance', async () => {
      ecs.on(UpdateContainerInstancesStateCommand).resolves({
        failures: [{ arn: ciArn(1), reason: 'MISSING' }],
      });

      const err = await adapter
        .setContainerInstancesState(CLUSTER, [ciArn(1)], 'DRAINING')
        .catch((e: unknown) => e);

      expect(err).to.be.instanceOf(UpstreamError);
      expect(String(err)).to.include('MISSING');
    });
  });

  it('passes the caller’s abort signal to every call', async () => {
    install(fakeCluster({ instances: [containerInstance(1)], tasks: [task(1)] }));
    ecs.on(DescribeServicesCommand).resolves({ services: [] });
    ecs.on(UpdateContainerInstancesStateCommand).resolves({ failures: [] });
    ecs.on(UpdateServiceCommand).resolves({});
    ecs.on(ListServicesCommand).resolves({ serviceArns: [] });
    ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'x' } });
    const signal = new AbortController().signal;

    await adapter.containerInstances(CLUSTER, { ec2InstanceIds: ['i-1'] }, { signal });
    await adapter.tasks(CLUSTER, {}, { signal });
    await adapter.services(CLUSTER, ['web'], { signal });
    await adapter.serviceArns(CLUSTER, { signal });
    await adapter.taskReservation('web', { signal });
    await adapter.setContainerInstancesState(CLUSTER, [ciArn(1)], 'DRAINING', { signal });
    await adapter.setDesiredCount(CLUSTER, 'web', 1, { signal });

    const calls = ecs.calls();
    expect(calls).to.have.length(10);
    for (const call of calls) {
      const options = (call.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined;
      expect(options?.abortSignal).to.equal(signal);
    }
  });

  it('wraps a failure in UpstreamError with the cause', async () => {
    const cause = ecsError('ClusterNotFoundException', 'Cluster not found.');
    ecs.on(ListContainerInstancesCommand).rejects(cause);

    const err = await adapter.containerInstances('nope').catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as UpstreamError).cause).to.equal(cause);
    expect(awsErrorName(err)).to.equal('ClusterNotFoundException');
    expect(String(err)).to.include('ListContainerInstances nope');
  });

  it('reads the id at the end of old- and new-format ARNs', () => {
    expect(lastSegment('arn:aws:ecs:us-east-1:1:container-instance/abc')).to.equal('abc');
    expect(lastSegment('arn:aws:ecs:us-east-1:1:container-instance/jobs/abc')).to.equal('abc');
    expect(lastSegment('abc')).to.equal('abc');
  });
});
