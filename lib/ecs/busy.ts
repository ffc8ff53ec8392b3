/**
 * The ECS busy rule, as a pure function of what ECS reported:
 *
 *   busy     the EC2 instance's container instance has at least one task that is not a
 *            daemon-service task and whose lastStatus is not STOPPED ("work");
 *   idle     it is registered and has no such task (daemon tasks alone do not count: they run
 *            on every instance and ECS stops them last);
 *   unknown  the EC2 instance is not registered in the cluster (the caller also answers
 *            unknown when the ECS calls fail).
 *
 * A daemon task is told by its service's scheduling strategy: a service's tasks carry the
 * group `service:<name>`, and the caller says which services are DAEMON. A task of a service
 * the caller could not describe (deleted since) counts as work: the safe side.
 *
 * Invariant: unknown never becomes idle — an instance themis cannot see into is never
 * unprotected or released by this rule.
 */
import type { ContainerInstance, EcsTask, ProbeStatus } from '../ports.js';

export const SERVICE_GROUP_PREFIX = 'service:';

export interface InstanceWork {
  status: ProbeStatus;
  /** Plain words for logs, reports and notices. */
  reason: string;
  /** The container instance(s) the EC2 instance is registered as (usually one). */
  containerInstanceArns: string[];
  /** ARNs of the tasks that make it busy (work tasks not yet STOPPED). */
  workTasks: string[];
}

/** The service a task belongs to, from its group (`service:<name>`). */
export function serviceOfTask(task: Pick<EcsTask, 'group'>): string | undefined {
  const group = task.group;
  if (!group?.startsWith(SERVICE_GROUP_PREFIX)) return undefined;
  const name = group.slice(SERVICE_GROUP_PREFIX.length);
  return name === '' ? undefined : name;
}

export function isDaemonTask(task: Pick<EcsTask, 'group'>, daemonServices: ReadonlySet<string>) {
  const service = serviceOfTask(task);
  return service !== undefined && daemonServices.has(service);
}

/** A task that keeps its instance busy: not a daemon's, not STOPPED. */
export function isWorkTask(task: EcsTask, daemonServices: ReadonlySet<string>): boolean {
  return task.lastStatus !== 'STOPPED' && !isDaemonTask(task, daemonServices);
}

/** The id at the end of a container-instance ARN, old or new format. */
function instanceKey(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

export interface BusyInput {
  ec2InstanceIds: readonly string[];
  /** The cluster's container instances (at least those of these EC2 instances). */
  containerInstances: readonly ContainerInstance[];
  /** Tasks of those container instances (others are ignored). */
  tasks: readonly EcsTask[];
  /** Names of the cluster's DAEMON services. */
  daemonServices: ReadonlySet<string>;
}

export function classifyInstances(input: BusyInput): Map<string, InstanceWork> {
  const tasksByInstance = new Map<string, EcsTask[]>();
  for (const task of input.tasks) {
    if (!task.containerInstanceArn) continue;
    const key = instanceKey(task.containerInstanceArn);
    tasksByInstance.set(key, [...(tasksByInstance.get(key) ?? []), task]);
  }

  const result = new Map<string, InstanceWork>();
  for (const instanceId of input.ec2InstanceIds) {
    const registered = input.containerInstances.filter(
      (ci) => ci.ec2InstanceId === instanceId && ci.status !== 'INACTIVE',
    );
    if (registered.length === 0) {
      result.set(instanceId, {
        status: 'unknown',
        reason: 'not registered in the ECS cluster',
        containerInstanceArns: [],
        workTasks: [],
      });
      continue;
    }
    const tasks = registered.flatMap((ci) => tasksByInstance.get(instanceKey(ci.arn)) ?? []);
    const work = tasks.filter((t) => isWorkTask(t, input.daemonServices));
    const daemons = tasks.filter(
      (t) => t.lastStatus !== 'STOPPED' && isDaemonTask(t, input.daemonServices),
    ).length;
    result.set(instanceId, {
      status: work.length > 0 ? 'busy' : 'idle',
      reason:
        work.length > 0
          ? `${plural(work.length, 'task')} running (${describeTasks(work)})`
          : `no tasks running${daemons ? ` but ${plural(daemons, 'daemon task')}` : ''}`,
      containerInstanceArns: registered.map((ci) => ci.arn),
      workTasks: work.map((t) => t.arn),
    });
  }
  return result;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "web/1a2b…, family:batch/3c4d…": enough to recognise the tasks, never a wall of text. */
export function describeTasks(tasks: readonly EcsTask[], shown = 3): string {
  const names = tasks.slice(0, shown).map((t) => `${t.group ?? '?'} ${shortTaskId(t.arn)}`);
  return tasks.length > shown
    ? `${names.join(', ')} +${tasks.length - shown} more`
    : names.join(', ');
}

/** The task id at the end of its ARN. */
export function shortTaskId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}
