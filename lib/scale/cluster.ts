/**
 * The cluster's one action per run, as a pure function (ecs-autoscale's rule, with the seed's
 * bugs left out):
 *
 * Only ACTIVE container instances on InService members of the group count as capacity.
 *
 * 1. Scale up by one (SetDesiredCapacity desired + 1, never above MaxSize) when, after placing
 *    the tasks the services are about to add (first fit, largest memory first), some of them
 *    do not fit or no ACTIVE instance keeps `cpuBuffer` CPU units and `memBuffer` MiB
 *    unreserved. Not while the group is still launching instances it was asked for (desired
 *    above its InService members): one scale-up at a time, never a runaway.
 * 2. Otherwise scale in by one when the group stays at or above MinSize — counting instances
 *    already DRAINING as gone (the seed counted them toward min) — and every task of the
 *    instance with the least reserved memory (then CPU) fits on the other ACTIVE instances,
 *    after the services' additions, with an instance still keeping both buffers. It is set
 *    DRAINING and terminated with a decrement of the desired capacity, so that the gate holds
 *    it until its tasks have stopped (the seed terminated at once and killed them).
 * 3. Otherwise nothing.
 *
 * "Fits" means cpu ≤ free CPU and memory ≤ free memory of one instance.
 */
import type { ContainerInstance, EcsResources, GroupInstance } from '../ports.js';

export interface ClusterState {
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  members: readonly GroupInstance[];
  containerInstances: readonly ContainerInstance[];
  cpuBuffer: number;
  memBuffer: number;
  /** One entry per task the services are about to add (their reservations). */
  additions: readonly EcsResources[];
}

export type ClusterAction =
  | { kind: 'scale-up'; from: number; to: number; reason: string }
  | {
      kind: 'scale-in';
      instanceId: string;
      containerInstanceArn: string;
      from: number;
      to: number;
      reason: string;
    }
  | { kind: 'none'; reason: string };

/** Reserved = registered − remaining. */
export function reserved(ci: ContainerInstance): EcsResources {
  return {
    cpu: ci.registered.cpu - ci.remaining.cpu,
    memoryMb: ci.registered.memoryMb - ci.remaining.memoryMb,
  };
}

/** Typed to take undefined: a container instance with no EC2 id is on no member. */
function inServiceIds(state: ClusterState): ReadonlySet<string | undefined> {
  return new Set(
    state.members.filter((m) => m.lifecycleState === 'InService').map((m) => m.instanceId),
  );
}

/** ACTIVE container instances on InService members of the group. */
export function activeInstances(state: ClusterState): ContainerInstance[] {
  const inService = inServiceIds(state);
  return state.containerInstances.filter(
    (ci) => ci.status === 'ACTIVE' && inService.has(ci.ec2InstanceId),
  );
}

/** DRAINING container instances on InService members: on their way out, no longer capacity. */
export function drainingInstances(state: ClusterState): ContainerInstance[] {
  const inService = inServiceIds(state);
  return state.containerInstances.filter(
    (ci) => ci.status === 'DRAINING' && inService.has(ci.ec2InstanceId),
  );
}

/** The scale-in candidate: least reserved memory, then least reserved CPU, then by ARN. */
export function scaleInCandidate(state: ClusterState): ContainerInstance | undefined {
  const active = activeInstances(state);
  if (active.length < 2) return undefined;
  return [...active].sort((a, b) => {
    const ra = reserved(a);
    const rb = reserved(b);
    return ra.memoryMb - rb.memoryMb || ra.cpu - rb.cpu || a.arn.localeCompare(b.arn);
  })[0];
}

/**
 * First fit, largest memory (then CPU) first, onto copies of `free`; returns the free
 * capacity left and how many tasks found no room.
 */
export function place(
  free: readonly EcsResources[],
  tasks: readonly EcsResources[],
): { left: EcsResources[]; unplaced: number } {
  const left = free.map((f) => ({ ...f }));
  let unplaced = 0;
  const order = [...tasks].sort((a, b) => b.memoryMb - a.memoryMb || b.cpu - a.cpu);
  for (const task of order) {
    const slot = left.find((f) => task.cpu <= f.cpu && task.memoryMb <= f.memoryMb);
    if (!slot) {
      unplaced++;
      continue;
    }
    slot.cpu -= task.cpu;
    slot.memoryMb -= task.memoryMb;
  }
  return { left, unplaced };
}

function keepsBuffers(free: readonly EcsResources[], state: ClusterState): boolean {
  return free.some((f) => f.cpu >= state.cpuBuffer && f.memoryMb >= state.memBuffer);
}

/**
 * `candidateTasks`: what the scale-in candidate's tasks reserve (its work tasks: daemon tasks
 * run on every instance and do not move). Absent: scale-in is not considered.
 */
export function planCluster(
  state: ClusterState,
  candidateTasks?: readonly EcsResources[],
): ClusterAction {
  const active = activeInstances(state);
  const desired = state.desiredCapacity;
  const buffers = `${state.cpuBuffer} CPU units and ${state.memBuffer} MiB`;

  const afterAdditions = place(
    active.map((ci) => ci.remaining),
    state.additions,
  );
  const short =
    afterAdditions.unplaced > 0
      ? `${afterAdditions.unplaced} of ${state.additions.length} tasks the services are adding do not fit`
      : !keepsBuffers(afterAdditions.left, state)
        ? `no ACTIVE instance keeps ${buffers} free${state.additions.length ? ` after the ${state.additions.length} tasks the services are adding` : ''}`
        : undefined;
  if (short) {
    if (desired >= state.maxSize) {
      return { kind: 'none', reason: `${short}, but the group is at its MaxSize ${state.maxSize}` };
    }
    const launching = desired - inServiceIds(state).size;
    if (launching > 0) {
      return {
        kind: 'none',
        reason: `${short}; waiting for ${launching} instance(s) still launching`,
      };
    }
    return { kind: 'scale-up', from: desired, to: desired + 1, reason: short };
  }

  const draining = drainingInstances(state).length;
  const remainingAfter = desired - draining - 1;
  if (remainingAfter < state.minSize) {
    return {
      kind: 'none',
      reason: `enough room; no scale-in: ${desired} desired${draining ? ` (${draining} draining)` : ''} and MinSize ${state.minSize}`,
    };
  }
  const candidate = scaleInCandidate(state);
  if (!candidate?.ec2InstanceId) {
    return { kind: 'none', reason: 'enough room; no other ACTIVE instance to move tasks to' };
  }
  if (!candidateTasks) {
    return {
      kind: 'none',
      reason: `enough room; the tasks of ${candidate.ec2InstanceId} are not known`,
    };
  }
  // The services' additions and the candidate's tasks, all on the other instances.
  const othersFree = active.filter((ci) => ci.arn !== candidate.arn).map((ci) => ci.remaining);
  const moved = place(othersFree, [...state.additions, ...candidateTasks]);
  if (moved.unplaced > 0) {
    return {
      kind: 'none',
      reason: `no scale-in: the ${candidateTasks.length} task(s) of ${candidate.ec2InstanceId} do not all fit on the other instances${state.additions.length ? " with the services' additions" : ''}`,
    };
  }
  if (!keepsBuffers(moved.left, state)) {
    return {
      kind: 'none',
      reason: `no scale-in: with the tasks of ${candidate.ec2InstanceId} moved, no instance would keep ${buffers} free`,
    };
  }
  return {
    kind: 'scale-in',
    instanceId: candidate.ec2InstanceId,
    containerInstanceArn: candidate.arn,
    from: desired,
    to: desired - 1,
    reason: `the ${candidateTasks.length} task(s) of ${candidate.ec2InstanceId} (least reserved memory) fit on the other instances with ${buffers} left`,
  };
}
