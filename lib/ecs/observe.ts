/**
 * Ask ECS what runs on some EC2 instances and apply the busy rule (busy.ts):
 *   ListContainerInstances + DescribeContainerInstances for these instances,
 *   ListTasks + DescribeTasks (one container instance's, or the cluster's when several),
 *   DescribeServices for the services those tasks belong to (daemon or not).
 * When any call fails every instance is unknown, with the failure as the reason: unknown
 * never unprotects and never releases.
 */
import type { CallOptions, EcsClusterState, EcsTask } from '../ports.js';
import { Deadline } from '../time.js';
import { classifyInstances, serviceOfTask, type InstanceWork } from './busy.js';

/**
 * How long one observation may take when the caller gives no deadline of its own: the
 * listing calls of a large cluster plus a few throttled retries, while a protect scan still
 * fits its scheduled minute.
 */
export const ECS_OBSERVE_TIMEOUT_MS = 20_000;

/**
 * The busy signal of `ec2InstanceIds` in `cluster`. Settles by `deadline` (default
 * ECS_OBSERVE_TIMEOUT_MS from now) whatever ECS does; never throws: a failure or the
 * deadline makes every instance unknown, with the reason.
 */
export async function observeEcsWork(
  cluster: string,
  ec2InstanceIds: readonly string[],
  ecs: EcsClusterState,
  deadline: Deadline = Deadline.after(ECS_OBSERVE_TIMEOUT_MS),
): Promise<Map<string, InstanceWork>> {
  const ids = [...new Set(ec2InstanceIds)];
  if (ids.length === 0) return new Map();
  try {
    return await deadline.run(`ECS observe ${cluster}`, (signal) =>
      gather(cluster, ids, ecs, { signal }),
    );
  } catch (err) {
    // UpstreamError's message names the call that failed and why.
    const reason = `ECS cluster ${cluster}: ${err instanceof Error ? err.message : String(err)}`;
    return new Map(
      ids.map((id) => [
        id,
        { status: 'unknown', reason, containerInstanceArns: [], workTasks: [] },
      ]),
    );
  }
}

async function gather(
  cluster: string,
  ids: string[],
  ecs: EcsClusterState,
  opts: CallOptions,
): Promise<Map<string, InstanceWork>> {
  const containerInstances = await ecs.containerInstances(cluster, { ec2InstanceIds: ids }, opts);
  let tasks: EcsTask[] = [];
  if (containerInstances.length === 1) {
    tasks = await ecs.tasks(cluster, { containerInstance: containerInstances[0]!.arn }, opts);
  } else if (containerInstances.length > 1) {
    // One cluster-wide listing costs fewer calls than one per instance.
    tasks = await ecs.tasks(cluster, {}, opts);
  }
  const serviceNames = [
    ...new Set(
      tasks.filter((t) => t.lastStatus !== 'STOPPED').flatMap((t) => serviceOfTask(t) ?? []),
    ),
  ];
  const services = serviceNames.length ? await ecs.services(cluster, serviceNames, opts) : [];
  const daemonServices = new Set(
    services.filter((s) => s.schedulingStrategy === 'DAEMON').map((s) => s.name),
  );
  return classifyInstances({ ec2InstanceIds: ids, containerInstances, tasks, daemonServices });
}
