/**
 * A fake ECSClient over the simulator's ECS clusters (sim/ecs.ts): an object that *is* an
 * ECSClient to lib/aws/ecs.ts, answering the commands the adapter sends with the SDK's
 * output shapes and ECS's errors, through sim/sdk.ts (latency, outages of the 'ecs'
 * service, the SDK's retries, abort) on the virtual clock. ECS's own throttling
 * (`ThrottlingException: Rate exceeded`) comes in windows (`throttled`), retried by the SDK
 * like any throttle.
 *
 * What ECS does and the adapter relies on: list pages of at most 100 with a `nextToken`;
 * `ec2InstanceId in [...]` filters honoured; describe batches of at most 100 (10 services);
 * unknown ARNs reported as `failures` with reason MISSING; ListTasks by *desired* status
 * (a task ECS is stopping is listed under STOPPED while it still runs); an unknown cluster
 * is `ClusterNotFoundException`.
 */
import {
  DescribeContainerInstancesCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListContainerInstancesCommand,
  ListServicesCommand,
  ListTasksCommand,
  UpdateContainerInstancesStateCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  MAX_DESCRIBE_BATCH,
  MAX_LIST_PAGE,
  MAX_SERVICES_PER_DESCRIBE,
  MAX_STATE_CHANGE_BATCH,
} from '../lib/aws/ecs.js';
import type { ContainerInstance, EcsTask } from '../lib/ports.js';
import { fakeClient, type CommandClass, type Route } from './aws.js';
import { SimAwsError } from './aws-error.js';
import type { EcsClusterModel } from './ecs.js';
import type { CallEnv } from './sdk.js';

// ECS's page and batch limits, as facts written once (lib/aws/ecs.ts).
const PAGE = MAX_LIST_PAGE;
const DESCRIBE_BATCH = MAX_DESCRIBE_BATCH;
const SERVICES_BATCH = MAX_SERVICES_PER_DESCRIBE;
const STATE_BATCH = MAX_STATE_CHANGE_BATCH;

export interface EcsApiModel {
  /** Clusters by name (an ARN's last segment names one too). */
  clusters: ReadonlyMap<string, EcsClusterModel>;
  /** True while ECS throttles the account's requests. */
  throttled?: (atMs: number) => boolean;
  now(): number;
}

function invalid(message: string): SimAwsError {
  return new SimAwsError('InvalidParameterException', message);
}

/** `ec2InstanceId in ['i-1','i-2']` (the only form themis writes); anything else is refused. */
function parseFilter(filter: string): Set<string> {
  const m = /^\s*ec2InstanceId\s+in\s+\[([^\]]*)\]\s*$/.exec(filter);
  if (!m) throw invalid(`Unsupported filter expression: ${filter}`);
  return new Set(
    m[1]!
      .split(',')
      .map((s) => s.trim().replace(/^'(.*)'$/, '$1'))
      .filter(Boolean),
  );
}

function page<T>(items: readonly T[], maxResults: number | undefined, nextToken?: string) {
  const max = maxResults ?? PAGE;
  if (max < 1 || max > PAGE) throw invalid(`maxResults must be between 1 and ${PAGE}`);
  const from = Number(nextToken ?? 0);
  if (!Number.isInteger(from) || from < 0) throw invalid('Invalid nextToken');
  const slice = items.slice(from, from + max);
  return { slice, next: from + max < items.length ? String(from + max) : undefined };
}

function resources(r: { cpu: number; memoryMb: number }) {
  return [
    { name: 'CPU', type: 'INTEGER', integerValue: r.cpu },
    { name: 'MEMORY', type: 'INTEGER', integerValue: r.memoryMb },
  ];
}

function sdkContainerInstance(ci: ContainerInstance) {
  return {
    containerInstanceArn: ci.arn,
    ec2InstanceId: ci.ec2InstanceId,
    status: ci.status,
    agentConnected: ci.agentConnected,
    registeredResources: resources(ci.registered),
    remainingResources: resources(ci.remaining),
    runningTasksCount: ci.runningTasksCount,
    pendingTasksCount: ci.pendingTasksCount,
  };
}

function sdkTask(t: EcsTask, clusterArn: string) {
  return {
    taskArn: t.arn,
    clusterArn,
    ...(t.group ? { group: t.group } : {}),
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    ...(t.containerInstanceArn ? { containerInstanceArn: t.containerInstanceArn } : {}),
    ...(t.taskDefinitionArn ? { taskDefinitionArn: t.taskDefinitionArn } : {}),
    ...(t.stoppedAtMs !== undefined ? { stoppedAt: new Date(t.stoppedAtMs) } : {}),
    ...(t.cpu !== undefined ? { cpu: String(t.cpu) } : {}),
    ...(t.memoryMb !== undefined ? { memory: String(t.memoryMb) } : {}),
  };
}

const lastSegment = (s: string) => s.slice(s.lastIndexOf('/') + 1);

/** One ECSClient (one Lambda container's), answering from `model`. */
export function createFakeEcsClient(model: EcsApiModel, env: CallEnv): ECSClient {
  const routes = new Map<CommandClass, Route>();
  const route = <I>(ctor: CommandClass, api: string, handle: (input: I) => unknown) =>
    routes.set(ctor, {
      service: 'ecs',
      api,
      handle: ((input: I) => {
        if (model.throttled?.(model.now()))
          throw new SimAwsError('ThrottlingException', 'Rate exceeded');
        return handle(input);
      }) as (input: never) => unknown,
    });
  const cluster = (name: string | undefined): EcsClusterModel => {
    const c = model.clusters.get(lastSegment(name ?? 'default'));
    if (!c) throw new SimAwsError('ClusterNotFoundException', 'Cluster not found.');
    return c;
  };
  const batch = <T>(list: readonly T[] | undefined, max: number, what: string): readonly T[] => {
    const items = list ?? [];
    if (items.length === 0 || items.length > max) {
      throw invalid(`${what} can have at most ${max} items and at least 1`);
    }
    return items;
  };

  route<{
    cluster?: string;
    filter?: string;
    status?: string;
    maxResults?: number;
    nextToken?: string;
  }>(ListContainerInstancesCommand, 'ListContainerInstances', (input) => {
    const c = cluster(input.cluster);
    const wanted = input.filter ? parseFilter(input.filter) : undefined;
    const arns = c
      .allContainerInstances()
      .filter((ci) => (input.status ? ci.status === input.status : ci.status !== 'INACTIVE'))
      .filter((ci) => !wanted || wanted.has(ci.ec2InstanceId))
      .map((ci) => ci.arn);
    const { slice, next } = page(arns, input.maxResults, input.nextToken);
    return { containerInstanceArns: slice, ...(next ? { nextToken: next } : {}) };
  });

  route<{ cluster?: string; containerInstances?: string[] }>(
    DescribeContainerInstancesCommand,
    'DescribeContainerInstances',
    (input) => {
      const c = cluster(input.cluster);
      const asked = batch(input.containerInstances, DESCRIBE_BATCH, 'containerInstances');
      const all = c.allContainerInstances();
      const found = [];
      const failures = [];
      for (const arn of asked) {
        const ci = all.find((i) => i.arn === arn || lastSegment(i.arn) === lastSegment(arn));
        if (ci) found.push(sdkContainerInstance(c.describeInstance(ci)));
        else failures.push({ arn, reason: 'MISSING' });
      }
      return { containerInstances: found, failures };
    },
  );

  route<{
    cluster?: string;
    containerInstance?: string;
    desiredStatus?: string;
    maxResults?: number;
    nextToken?: string;
  }>(ListTasksCommand, 'ListTasks', (input) => {
    const c = cluster(input.cluster);
    const desired = input.desiredStatus ?? 'RUNNING';
    const on = input.containerInstance ? lastSegment(input.containerInstance) : undefined;
    if (on && !c.allContainerInstances().some((ci) => lastSegment(ci.arn) === on)) {
      throw invalid('The referenced container instance was not found.');
    }
    const arns = c
      .taskViews()
      .filter((t) => t.desiredStatus === desired)
      .filter((t) => !on || lastSegment(t.containerInstanceArn ?? '') === on)
      .map((t) => t.arn);
    const { slice, next } = page(arns, input.maxResults, input.nextToken);
    return { taskArns: slice, ...(next ? { nextToken: next } : {}) };
  });

  route<{ cluster?: string; tasks?: string[] }>(DescribeTasksCommand, 'DescribeTasks', (input) => {
    const c = cluster(input.cluster);
    const asked = batch(input.tasks, DESCRIBE_BATCH, 'tasks');
    const views = new Map(c.taskViews().map((t) => [t.arn, t]));
    return {
      tasks: asked.flatMap((arn) => {
        const t = views.get(arn);
        return t ? [sdkTask(t, c.arn)] : [];
      }),
      failures: asked.filter((arn) => !views.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    };
  });

  route<{ cluster?: string; services?: string[] }>(
    DescribeServicesCommand,
    'DescribeServices',
    (input) => {
      const c = cluster(input.cluster);
      const asked = batch(input.services, SERVICES_BATCH, 'services');
      return describeServices(c, asked);
    },
  );

  route<{ cluster?: string; maxResults?: number; nextToken?: string }>(
    ListServicesCommand,
    'ListServices',
    (input) => {
      const c = cluster(input.cluster);
      const arns = c.serviceNames().map((n) => `${c.arn.replace(':cluster/', ':service/')}/${n}`);
      const { slice, next } = page(arns, input.maxResults, input.nextToken);
      return { serviceArns: slice, ...(next ? { nextToken: next } : {}) };
    },
  );

  route<{ taskDefinition: string }>(
    DescribeTaskDefinitionCommand,
    'DescribeTaskDefinition',
    (input) => {
      const c = [...model.clusters.values()][0];
      const size = c?.definitionOf(input.taskDefinition);
      if (!size) throw new SimAwsError('ClientException', 'Unable to describe task definition.');
      return {
        taskDefinition: {
          taskDefinitionArn: input.taskDefinition,
          cpu: String(size.cpu),
          memory: String(size.memoryMb),
          containerDefinitions: [],
        },
      };
    },
  );

  route<{ cluster?: string; containerInstances?: string[]; status: 'ACTIVE' | 'DRAINING' }>(
    UpdateContainerInstancesStateCommand,
    'UpdateContainerInstancesState',
    (input) => {
      const c = cluster(input.cluster);
      const asked = batch(input.containerInstances, STATE_BATCH, 'containerInstances');
      if (input.status !== 'ACTIVE' && input.status !== 'DRAINING') {
        throw invalid(`Invalid status ${String(input.status)}`);
      }
      const missing = new Set(c.setState(asked, input.status));
      const all = c.allContainerInstances();
      return {
        containerInstances: asked
          .filter((arn) => !missing.has(arn))
          .map((arn) => all.find((i) => i.arn === arn)!)
          .map((ci) => sdkContainerInstance(c.describeInstance(ci))),
        failures: [...missing].map((arn) => ({ arn, reason: 'MISSING' })),
      };
    },
  );

  route<{ cluster?: string; service: string; desiredCount?: number }>(
    UpdateServiceCommand,
    'UpdateService',
    (input) => {
      const c = cluster(input.cluster);
      const name = lastSegment(input.service);
      if (!c.serviceNames().includes(name)) {
        throw new SimAwsError('ServiceNotFoundException', 'Service not found.');
      }
      if (input.desiredCount !== undefined)
        void c.setDesiredCount(c.name, name, input.desiredCount);
      return { service: { serviceName: name } };
    },
  );

  return fakeClient(ECSClient, env, routes);
}

/** DescribeServices' answer (MISSING ones as failures). */
function describeServices(c: EcsClusterModel, asked: readonly string[]) {
  const found = c.describeServices(asked);
  const names = new Set(found.map((s) => s.name));
  return {
    services: found.map((s) => ({
      serviceName: s.name,
      serviceArn: s.arn,
      clusterArn: c.arn,
      schedulingStrategy: s.schedulingStrategy,
      status: s.status,
      desiredCount: s.desiredCount,
      runningCount: s.runningCount,
      pendingCount: s.pendingCount,
      ...(s.taskDefinition ? { taskDefinition: s.taskDefinition } : {}),
    })),
    failures: asked
      .filter((n) => !names.has(lastSegment(n)))
      .map((arn) => ({ arn, reason: 'MISSING' })),
  };
}
