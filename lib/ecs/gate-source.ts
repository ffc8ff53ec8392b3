/**
 * The gate's observation in ECS mode, in the shape of a probe answer:
 *
 *   never registered in the cluster   → idle, "never registered …": released at once
 *   ACTIVE                            → set DRAINING (not in a dry run), then as below;
 *                                       DRAINING already: nothing to set (safe to repeat)
 *   a task that is not a daemon's and not STOPPED → busy, naming the tasks
 *   none                              → idle, naming the tasks it waited for (those that
 *                                       stopped since the hold began)
 *   an ECS call fails for a while (throttling, ECS's own fault, a timeout, the network) or
 *   the deadline passes                 → unknown, an API failure: the gate holds without
 *                                       counting it towards the unknown limit
 *   an ECS call is refused (access denied, no such cluster, a bad parameter) → a plain
 *                                       unknown, naming the error: asking again cannot fix it,
 *                                       so it counts, and the limit releases the instance with
 *                                       a notice rather than holding it silently for 48 h
 *
 * DRAINING makes ECS stop placing tasks on the instance and move its service tasks away;
 * standalone tasks run to their end. The gate holds the instance meanwhile.
 */
import type {
  ContainerInstance,
  EcsClusterControl,
  EcsClusterState,
  EcsTask,
  ProbeResult,
} from '../ports.js';
import { isTransientError, UpstreamError } from '../errors.js';
import { DeadlineExceededError, type Deadline } from '../time.js';
import { classifyInstances, describeTasks, isDaemonTask, serviceOfTask } from './busy.js';

export interface GateObservation extends ProbeResult {
  /** DRAINING was set by this step. */
  drained: boolean;
}

export async function observeForGate(options: {
  cluster: string;
  instanceId: string;
  ecs: (EcsClusterState & EcsClusterControl) | undefined;
  dryRun: boolean;
  /** When the hold began: tasks that stopped since are the ones the gate waited for. */
  sinceMs: number;
  deadline: Deadline;
  now: () => number;
}): Promise<GateObservation> {
  const { cluster, instanceId, ecs } = options;
  const started = options.now();
  const answer = (status: ProbeResult['status'], reason: string, drained = false) => ({
    status,
    reason,
    drained,
    latencyMs: options.now() - started,
  });
  if (!ecs) return answer('unknown', 'ECS mode, but the gate has no ECS client');
  try {
    return await options.deadline.run(`ECS ${cluster} ${instanceId}`, async (signal) => {
      const registered = await ecs.containerInstances(
        cluster,
        { ec2InstanceIds: [instanceId] },
        { signal },
      );
      if (registered.length === 0) {
        return answer('idle', `never registered in ECS cluster ${cluster}: no tasks to wait for`);
      }
      const active = registered.filter((ci) => ci.status === 'ACTIVE').map((ci) => ci.arn);
      let drained = false;
      if (active.length && !options.dryRun) {
        await ecs.setContainerInstancesState(cluster, active, 'DRAINING', { signal });
        drained = true;
      }
      const tasks = await tasksOf(ecs, cluster, registered, signal);
      const daemons = await daemonServices(ecs, cluster, tasks, signal);
      const work = classifyInstances({
        ec2InstanceIds: [instanceId],
        containerInstances: registered,
        tasks,
        daemonServices: daemons,
      }).get(instanceId)!;
      if (work.status !== 'idle') {
        return answer(work.status, `${drained ? 'set DRAINING; ' : ''}${work.reason}`, drained);
      }
      const waitedFor = tasks.filter(
        (t) =>
          t.lastStatus === 'STOPPED' &&
          !isDaemonTask(t, daemons) &&
          (t.stoppedAtMs === undefined || t.stoppedAtMs >= options.sinceMs),
      );
      return answer(
        'idle',
        waitedFor.length
          ? `no tasks running; waited for ${waitedFor.length} task(s): ${describeTasks(waitedFor, 10)}`
          : 'no tasks running',
        drained,
      );
    });
  } catch (err) {
    const reason = `ECS cluster ${cluster}: ${describeError(err)}`;
    // ECS failing for a while (an outage, throttling, a slow answer) says nothing about the
    // instance; an error that will come back on every step is a setup problem to report.
    if (err instanceof DeadlineExceededError || isTransientError(err)) {
      return { ...answer('unknown', reason), apiFailure: true };
    }
    return answer('unknown', reason);
  }
}

async function tasksOf(
  ecs: EcsClusterState,
  cluster: string,
  registered: ContainerInstance[],
  signal: AbortSignal,
): Promise<EcsTask[]> {
  const tasks: EcsTask[] = [];
  for (const ci of registered) {
    tasks.push(...(await ecs.tasks(cluster, { containerInstance: ci.arn }, { signal })));
  }
  return tasks;
}

async function daemonServices(
  ecs: EcsClusterState,
  cluster: string,
  tasks: EcsTask[],
  signal: AbortSignal,
): Promise<Set<string>> {
  const names = [...new Set(tasks.flatMap((t) => serviceOfTask(t) ?? []))];
  if (names.length === 0) return new Set();
  const services = await ecs.services(cluster, names, { signal });
  return new Set(services.filter((s) => s.schedulingStrategy === 'DAEMON').map((s) => s.name));
}

/** "ListContainerInstances jobs failed: ClusterNotFoundException: …": the error's name leads. */
function describeError(err: unknown): string {
  if (err instanceof UpstreamError) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
