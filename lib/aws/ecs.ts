/**
 * ECS on EC2 behind two ports: what themis reads of a cluster (container instances, tasks,
 * services, task reservations) and what it changes (container-instance state, a service's
 * desired count). Each method is one API operation or one list-then-describe pair, paginated
 * and batched within the API's limits; what the answers mean for busy/idle and for scaling
 * lives above, in lib/ecs and lib/scale.
 */
import {
  DescribeContainerInstancesCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListContainerInstancesCommand,
  ListServicesCommand,
  ListTasksCommand,
  UpdateContainerInstancesStateCommand,
  UpdateServiceCommand,
  type ContainerInstance as SdkContainerInstance,
  type ContainerInstanceStatus,
  type ECSClient,
  type Failure,
  type Resource,
  type Service,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { UpstreamError } from '../errors.js';
import type {
  CallOptions,
  ContainerInstance,
  EcsClusterControl,
  EcsClusterState,
  EcsResources,
  EcsService,
  EcsTask,
  TaskReservation,
} from '../ports.js';
import { chunk, listForMessage } from './util.js';

/** ListContainerInstances, ListTasks and ListServices return at most 100 per page. */
export const MAX_LIST_PAGE = 100;
/** DescribeContainerInstances and DescribeTasks take at most 100 ARNs per call. */
export const MAX_DESCRIBE_BATCH = 100;
/** DescribeServices takes at most 10 services per call. */
export const MAX_SERVICES_PER_DESCRIBE = 10;
/** UpdateContainerInstancesState takes at most 10 container instances per call. */
export const MAX_STATE_CHANGE_BATCH = 10;
/**
 * EC2 instance ids per `ec2InstanceId in [...]` filter expression. The cluster query
 * language limits an expression's length; 50 ids (~1,000 characters) stays far inside it.
 */
export const MAX_IDS_PER_FILTER = 50;
/**
 * A paginated listing that goes on longer than this is a broken endpoint (a token that never
 * ends), not a cluster: ECS allows 5,000 container instances per cluster, so 100 pages of
 * 100 covers any real one twice over.
 */
const MAX_PAGES = 200;

/** The parts of one ECS API error message a reader needs. */
function failuresText(failures: Failure[]): string {
  return failures
    .map((f) => `${f.arn ?? '?'}: ${f.reason ?? 'failed'}${f.detail ? ` (${f.detail})` : ''}`)
    .join('; ');
}

/** One reason for a failed call, as an error with a name (awsErrorName reads it). */
class EcsFailure extends Error {
  override name = 'EcsFailure';
}

export class EcsAdapter implements EcsClusterState, EcsClusterControl {
  constructor(private readonly client: ECSClient) {}

  async containerInstances(
    cluster: string,
    query: { ec2InstanceIds?: string[]; status?: string } = {},
    opts?: CallOptions,
  ): Promise<ContainerInstance[]> {
    const wanted = query.ec2InstanceIds ? new Set(query.ec2InstanceIds) : undefined;
    if (wanted?.size === 0) return [];
    const filters = wanted
      ? chunk([...wanted], MAX_IDS_PER_FILTER).map(
          (ids) => `ec2InstanceId in [${ids.map((id) => `'${id}'`).join(',')}]`,
        )
      : [undefined];
    const operation = `ListContainerInstances ${cluster}${wanted ? ` ${listForMessage([...wanted])}` : ''}`;
    const arns = new Set<string>();
    for (const filter of filters) {
      await this.pages(operation, opts, async (nextToken, abortSignal) => {
        const out = await this.client.send(
          new ListContainerInstancesCommand({
            cluster,
            maxResults: MAX_LIST_PAGE,
            ...(filter ? { filter } : {}),
            ...(query.status ? { status: query.status as ContainerInstanceStatus } : {}),
            ...(nextToken ? { nextToken } : {}),
          }),
          { abortSignal },
        );
        for (const arn of out.containerInstanceArns ?? []) arns.add(arn);
        return out.nextToken;
      });
    }

    const found: ContainerInstance[] = [];
    for (const batch of chunk([...arns], MAX_DESCRIBE_BATCH)) {
      const operation = `DescribeContainerInstances ${cluster} ${listForMessage(batch)}`;
      const out = await this.call(operation, () =>
        this.client.send(
          new DescribeContainerInstancesCommand({ cluster, containerInstances: batch }),
          signalOf(opts),
        ),
      );
      // MISSING: deregistered between the two calls — absent, as if never listed.
      for (const ci of out.containerInstances ?? []) {
        const instance = toContainerInstance(ci);
        if (!instance) continue;
        // Client-side as well: not every implementation honours `filter` (moto ignores it).
        if (wanted && !(instance.ec2InstanceId && wanted.has(instance.ec2InstanceId))) continue;
        if (query.status && instance.status !== query.status) continue;
        if (!query.status && instance.status === 'INACTIVE') continue;
        found.push(instance);
      }
    }
    return found;
  }

  async tasks(
    cluster: string,
    query: { containerInstance?: string } = {},
    opts?: CallOptions,
  ): Promise<EcsTask[]> {
    const arns = new Set<string>();
    // ListTasks lists by *desired* status, RUNNING by default; a task ECS is stopping (desired
    // STOPPED) keeps running until it has stopped, so both lists are read.
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      const operation = `ListTasks ${cluster}${query.containerInstance ? ` ${query.containerInstance}` : ''} desired ${desiredStatus}`;
      await this.pages(operation, opts, async (nextToken, abortSignal) => {
        const out = await this.client.send(
          new ListTasksCommand({
            cluster,
            desiredStatus,
            maxResults: MAX_LIST_PAGE,
            ...(query.containerInstance ? { containerInstance: query.containerInstance } : {}),
            ...(nextToken ? { nextToken } : {}),
          }),
          { abortSignal },
        );
        for (const arn of out.taskArns ?? []) arns.add(arn);
        return out.nextToken;
      });
    }

    const tasks: EcsTask[] = [];
    for (const batch of chunk([...arns], MAX_DESCRIBE_BATCH)) {
      const out = await this.call(`DescribeTasks ${cluster} ${listForMessage(batch)}`, () =>
        this.client.send(new DescribeTasksCommand({ cluster, tasks: batch }), signalOf(opts)),
      );
      for (const task of out.tasks ?? []) {
        const mapped = toTask(task);
        if (!mapped) continue;
        if (query.containerInstance && !sameContainerInstance(mapped, query.containerInstance))
          continue;
        tasks.push(mapped);
      }
    }
    return tasks;
  }

  async services(cluster: string, names: string[], opts?: CallOptions): Promise<EcsService[]> {
    const services: EcsService[] = [];
    for (const batch of chunk([...new Set(names)], MAX_SERVICES_PER_DESCRIBE)) {
      const out = await this.call(`DescribeServices ${cluster} ${listForMessage(batch)}`, () =>
        this.client.send(new DescribeServicesCommand({ cluster, services: batch }), signalOf(opts)),
      );
      // MISSING services are absent from the answer: the port's contract.
      for (const s of out.services ?? []) {
        const mapped = toService(s);
        if (mapped) services.push(mapped);
      }
    }
    return services;
  }

  async serviceArns(cluster: string, opts?: CallOptions): Promise<string[]> {
    const arns: string[] = [];
    await this.pages(`ListServices ${cluster}`, opts, async (nextToken, abortSignal) => {
      const out = await this.client.send(
        new ListServicesCommand({
          cluster,
          maxResults: MAX_LIST_PAGE,
          ...(nextToken ? { nextToken } : {}),
        }),
        { abortSignal },
      );
      arns.push(...(out.serviceArns ?? []));
      return out.nextToken;
    });
    return [...new Set(arns)];
  }

  async taskReservation(taskDefinition: string, opts?: CallOptions): Promise<TaskReservation> {
    const operation = `DescribeTaskDefinition ${taskDefinition}`;
    const out = await this.call(operation, () =>
      this.client.send(new DescribeTaskDefinitionCommand({ taskDefinition }), signalOf(opts)),
    );
    if (!out.taskDefinition) {
      throw new UpstreamError(operation, { cause: new EcsFailure('no task definition returned') });
    }
    return toReservation(out.taskDefinition, taskDefinition);
  }

  async setContainerInstancesState(
    cluster: string,
    containerInstanceArns: string[],
    status: 'ACTIVE' | 'DRAINING',
    opts?: CallOptions,
  ): Promise<void> {
    for (const batch of chunk([...new Set(containerInstanceArns)], MAX_STATE_CHANGE_BATCH)) {
      const operation = `UpdateContainerInstancesState ${status} ${cluster} ${listForMessage(batch)}`;
      const out = await this.call(operation, () =>
        this.client.send(
          new UpdateContainerInstancesStateCommand({
            cluster,
            containerInstances: batch,
            status,
          }),
          signalOf(opts),
        ),
      );
      const failures = out.failures ?? [];
      if (failures.length) {
        throw new UpstreamError(operation, { cause: new EcsFailure(failuresText(failures)) });
      }
    }
  }

  async setDesiredCount(
    cluster: string,
    service: string,
    desiredCount: number,
    opts?: CallOptions,
  ): Promise<void> {
    await this.call(`UpdateService ${cluster}/${service} desiredCount=${desiredCount}`, () =>
      this.client.send(
        new UpdateServiceCommand({ cluster, service, desiredCount }),
        signalOf(opts),
      ),
    );
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (cause) {
      throw new UpstreamError(operation, { cause });
    }
  }

  /** Follow nextToken until it ends (or repeats: a broken endpoint must not loop for ever). */
  private async pages(
    operation: string,
    opts: CallOptions | undefined,
    page: (nextToken: string | undefined, signal?: AbortSignal) => Promise<string | undefined>,
  ): Promise<void> {
    let token: string | undefined;
    const seen = new Set<string>();
    for (let n = 0; n < MAX_PAGES; n++) {
      let next: string | undefined;
      try {
        next = await page(token, opts?.signal);
      } catch (cause) {
        throw new UpstreamError(operation, { cause });
      }
      if (!next) return;
      if (seen.has(next)) {
        throw new UpstreamError(operation, {
          cause: new EcsFailure(`the endpoint repeated nextToken ${next}`),
        });
      }
      seen.add(next);
      token = next;
    }
    throw new UpstreamError(operation, {
      cause: new EcsFailure(`more than ${MAX_PAGES} pages: giving up`),
    });
  }
}

function signalOf(opts?: CallOptions): { abortSignal?: AbortSignal } {
  return opts?.signal ? { abortSignal: opts.signal } : {};
}

function resourceValue(resources: Resource[] | undefined, name: string): number {
  const r = resources?.find((x) => x.name === name);
  return r?.integerValue ?? 0;
}

function resources(list: Resource[] | undefined): EcsResources {
  return { cpu: resourceValue(list, 'CPU'), memoryMb: resourceValue(list, 'MEMORY') };
}

function toContainerInstance(ci: SdkContainerInstance): ContainerInstance | undefined {
  if (!ci.containerInstanceArn) return undefined;
  return {
    arn: ci.containerInstanceArn,
    ...(ci.ec2InstanceId ? { ec2InstanceId: ci.ec2InstanceId } : {}),
    status: ci.status ?? 'UNKNOWN',
    agentConnected: ci.agentConnected ?? false,
    registered: resources(ci.registeredResources),
    remaining: resources(ci.remainingResources),
    runningTasksCount: ci.runningTasksCount ?? 0,
    pendingTasksCount: ci.pendingTasksCount ?? 0,
  };
}

/** "256", "0.25 vCPU", "1 GB": the task-level sizes are strings; only whole units are read. */
function parseSize(value: string | undefined, unitPerWhole: number): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(vcpu|gb)?\s*$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] ? Math.round(n * unitPerWhole) : Math.round(n);
}

function toTask(task: Task): EcsTask | undefined {
  if (!task.taskArn) return undefined;
  const cpu = parseSize(task.cpu, 1024);
  const memoryMb = parseSize(task.memory, 1024);
  return {
    arn: task.taskArn,
    ...(task.group ? { group: task.group } : {}),
    lastStatus: task.lastStatus ?? 'UNKNOWN',
    desiredStatus: task.desiredStatus ?? 'UNKNOWN',
    ...(task.containerInstanceArn ? { containerInstanceArn: task.containerInstanceArn } : {}),
    ...(task.taskDefinitionArn ? { taskDefinitionArn: task.taskDefinitionArn } : {}),
    ...(task.stoppedAt ? { stoppedAtMs: task.stoppedAt.getTime() } : {}),
    ...(cpu !== undefined ? { cpu } : {}),
    ...(memoryMb !== undefined ? { memoryMb } : {}),
  };
}

/** A container-instance id or ARN (old or new format) names the task's instance. */
function sameContainerInstance(task: EcsTask, containerInstance: string): boolean {
  const arn = task.containerInstanceArn;
  if (!arn) return false;
  return arn === containerInstance || lastSegment(arn) === lastSegment(containerInstance);
}

/** The id at the end of an ARN, old (`…:container-instance/<id>`) or new (`…/<cluster>/<id>`). */
export function lastSegment(arnOrId: string): string {
  return arnOrId.slice(arnOrId.lastIndexOf('/') + 1);
}

function toService(s: Service): EcsService | undefined {
  if (!s.serviceName || !s.serviceArn) return undefined;
  return {
    name: s.serviceName,
    arn: s.serviceArn,
    schedulingStrategy: s.schedulingStrategy ?? 'REPLICA',
    status: s.status ?? 'UNKNOWN',
    desiredCount: s.desiredCount ?? 0,
    runningCount: s.runningCount ?? 0,
    pendingCount: s.pendingCount ?? 0,
    ...(s.taskDefinition ? { taskDefinition: s.taskDefinition } : {}),
  };
}

/**
 * What one task of this definition reserves on a container instance: the task-level size
 * when set, else the sum of its containers' `cpu` and `memoryReservation`/`memory` (the
 * soft limit is what placement reserves when both are set).
 */
function toReservation(def: TaskDefinition, asked: string): TaskReservation {
  const containers = def.containerDefinitions ?? [];
  const sumCpu = containers.reduce((n, c) => n + (c.cpu ?? 0), 0);
  const sumMemory = containers.reduce((n, c) => n + (c.memoryReservation ?? c.memory ?? 0), 0);
  return {
    taskDefinitionArn: def.taskDefinitionArn ?? asked,
    cpu: parseSize(def.cpu, 1024) ?? sumCpu,
    memoryMb: parseSize(def.memory, 1024) ?? sumMemory,
  };
}
