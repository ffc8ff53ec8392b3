/**
 * protect's busy signal in ECS mode: the same shape probeMany gives (each instance with a
 * ProbeResult), read from the instances' tasks instead of HTTP. The planner, batching and
 * reports downstream are the same as in HTTP mode.
 */
import type { Clock, EcsClusterState, ProbeResult } from '../ports.js';
import { Deadline, realTimers, type Timers } from '../time.js';
import { ECS_OBSERVE_TIMEOUT_MS, observeEcsWork } from './observe.js';

export async function observeByTasks<T extends { instanceId: string }>(
  cluster: string,
  items: readonly T[],
  ecs: EcsClusterState | undefined,
  clock: Clock = Date.now,
  /** The observation's deadline runs on these (the simulator's are virtual). */
  timers: Timers = realTimers,
): Promise<Array<T & { result: ProbeResult }>> {
  if (!ecs) {
    const result: ProbeResult = {
      status: 'unknown',
      reason: 'ECS mode, but this scan has no ECS client',
      latencyMs: 0,
    };
    return items.map((item) => ({ ...item, result }));
  }
  const started = clock();
  const work = await observeEcsWork(
    cluster,
    items.map((i) => i.instanceId),
    ecs,
    Deadline.after(ECS_OBSERVE_TIMEOUT_MS, timers),
  );
  const latencyMs = clock() - started;
  return items.map((item) => {
    const w = work.get(item.instanceId);
    return {
      ...item,
      result: {
        status: w?.status ?? 'unknown',
        reason: w?.reason ?? 'no answer from ECS',
        latencyMs,
      },
    };
  });
}
