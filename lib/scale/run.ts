/**
 * One run of the scale function for one cluster: read → plan (pure: services.ts, cluster.ts)
 * → carry out. In order:
 *
 *   1. the group's size (DescribeAutoScalingGroups) and the configured services
 *      (DescribeServices), each service's metric, and its desired count (UpdateService);
 *   2. the cluster's container instances; the scale-in candidate's tasks only when no
 *      scale-up is due;
 *   3. at most one cluster action: SetDesiredCapacity + 1, or DRAINING and then
 *      TerminateInstanceInAutoScalingGroup with a decrement (the gate, in ECS mode, holds the
 *      instance until its tasks have stopped). When the termination fails the instance is set
 *      ACTIVE again, so that no instance is left draining for nothing.
 *
 * A dry run reads and plans, and changes nothing. A cluster that cannot be read is reported
 * (outcome 'failed') and left untouched; it never stops the other clusters.
 */
import { errorMessage } from '../errors.js';
import { isWorkTask, serviceOfTask } from '../ecs/busy.js';
import type {
  EcsClusterControl,
  EcsClusterState,
  EcsResources,
  EcsService,
  GroupCapacity,
  Log,
} from '../ports.js';
import { Deadline } from '../time.js';
import { planCluster, scaleInCandidate, type ClusterAction, type ClusterState } from './cluster.js';
import type { ClusterConfig } from './config.js';
import { METRIC_TIMEOUT_MS, type MetricReader } from './metrics.js';
import { planService } from './services.js';

export interface ScaleDeps {
  ecs: EcsClusterState & EcsClusterControl;
  groups: GroupCapacity;
  metrics: MetricReader;
  log: Log;
}

export interface ServiceReport {
  name: string;
  runningCount?: number;
  desiredCount?: number;
  /** The metric's value this run. */
  metric?: number;
  reason: string;
  /** UpdateService was called (never in a dry run). */
  updated: boolean;
  error?: string;
}

export interface ClusterReport {
  cluster: string;
  group: string;
  dryRun: boolean;
  /** ok: planned (and carried out unless dryRun); disabled; not-found: no such group; failed. */
  outcome: 'ok' | 'disabled' | 'not-found' | 'failed';
  message?: string;
  services: ServiceReport[];
  action?: ClusterAction;
  /** The cluster action was carried out (never in a dry run). */
  acted: boolean;
}

export async function scaleCluster(
  config: ClusterConfig,
  deps: ScaleDeps,
  options: { dryRun: boolean; deadline?: Deadline },
): Promise<ClusterReport> {
  const { ecs, groups, log } = deps;
  const deadline = options.deadline ?? Deadline.never();
  const cluster = config.name;
  const report: ClusterReport = {
    cluster,
    group: config.autoscaleGroup,
    dryRun: options.dryRun,
    outcome: 'ok',
    services: [],
    acted: false,
  };
  const where = { cluster, group: config.autoscaleGroup, dryRun: options.dryRun };
  if (!config.enabled) {
    return { ...report, outcome: 'disabled', message: 'enabled: false in clusters.yml' };
  }

  const call = <T>(what: string, work: (signal: AbortSignal) => Promise<T>) =>
    deadline.run(what, work);
  const reservations = new Map<string, Promise<EcsResources>>();
  const reservationOf = (taskDefinition: string) => {
    let r = reservations.get(taskDefinition);
    if (!r) {
      r = call(`DescribeTaskDefinition ${taskDefinition}`, (signal) =>
        ecs.taskReservation(taskDefinition, { signal }),
      );
      reservations.set(taskDefinition, r);
    }
    return r;
  };

  try {
    const group = await call(`DescribeAutoScalingGroups ${config.autoscaleGroup}`, (signal) =>
      groups.describeCapacity(config.autoscaleGroup, { signal }),
    );
    if (!group) {
      const message = `Auto Scaling group ${JSON.stringify(config.autoscaleGroup)} not found`;
      log.error('scale: group not found', { ...where, reason: message });
      return { ...report, outcome: 'not-found', message };
    }

    // --- services ------------------------------------------------------------------------
    const enabled = Object.entries(config.services).filter(([, s]) => s.enabled);
    const described = enabled.length
      ? await call(`DescribeServices ${cluster}`, (signal) =>
          ecs.services(
            cluster,
            enabled.map(([name]) => name),
            { signal },
          ),
        )
      : [];
    const byName = new Map(described.map((s) => [s.name, s]));
    const additions: EcsResources[] = [];
    for (const [name, service] of enabled) {
      const current = byName.get(name);
      if (!current) {
        report.services.push({
          name,
          reason: 'no such service in the cluster',
          updated: false,
          error: 'not found',
        });
        log.error('scale: service not found', { ...where, service: name });
        continue;
      }
      let metric: number | undefined;
      let metricError: string | undefined;
      if (service.metric) {
        try {
          metric = await deps.metrics.read(service.metric, deadline.within(METRIC_TIMEOUT_MS));
        } catch (err) {
          metricError = err instanceof Error ? err.message : String(err);
        }
      }
      const plan = planService({
        name,
        runningCount: current.runningCount,
        min: service.min,
        max: service.max,
        events: service.events,
        ...(metric !== undefined ? { metric } : {}),
      });
      const entry: ServiceReport = {
        name,
        runningCount: current.runningCount,
        desiredCount: plan.desiredCount,
        ...(metric !== undefined ? { metric } : {}),
        reason: metricError ? `${plan.reason} (metric: ${metricError})` : plan.reason,
        updated: false,
      };
      report.services.push(entry);
      log.info('scale: service decision', {
        ...where,
        service: name,
        runningCount: current.runningCount,
        desiredCount: plan.desiredCount,
        reason: entry.reason,
      });
      await addTasks(additions, current, plan.desiredCount, reservationOf);
      if (plan.desiredCount !== current.desiredCount && !options.dryRun) {
        try {
          await call(`UpdateService ${cluster}/${name}`, (signal) =>
            ecs.setDesiredCount(cluster, name, plan.desiredCount, { signal }),
          );
          entry.updated = true;
        } catch (err) {
          entry.error = errorMessage(err);
          log.error('scale: service update failed', {
            ...where,
            service: name,
            reason: entry.error,
          });
        }
      }
    }

    // --- the cluster -----------------------------------------------------------------------
    const containerInstances = await call(`ListContainerInstances ${cluster}`, (signal) =>
      ecs.containerInstances(cluster, {}, { signal }),
    );
    const state: ClusterState = {
      minSize: group.minSize,
      maxSize: group.maxSize,
      desiredCapacity: group.desiredCapacity,
      members: group.instances,
      containerInstances,
      cpuBuffer: config.cpuBuffer,
      memBuffer: config.memBuffer,
      additions,
    };
    let action = planCluster(state);
    const candidate = scaleInCandidate(state);
    if (action.kind !== 'scale-up' && candidate) {
      const tasks = await call(`ListTasks ${cluster} ${candidate.arn}`, (signal) =>
        ecs.tasks(cluster, { containerInstance: candidate.arn }, { signal }),
      );
      const daemonServices = await daemonsOf(tasks, (names) =>
        call(`DescribeServices ${cluster}`, (signal) => ecs.services(cluster, names, { signal })),
      );
      const work = tasks.filter((t) => isWorkTask(t, daemonServices));
      const sizes = await Promise.all(
        work.map(async (t) =>
          t.cpu !== undefined && t.memoryMb !== undefined
            ? { cpu: t.cpu, memoryMb: t.memoryMb }
            : reservationOf(t.taskDefinitionArn ?? ''),
        ),
      );
      action = planCluster(state, sizes);
    }
    report.action = action;
    log.info('scale: cluster decision', { ...where, action: action.kind, reason: action.reason });
    if (options.dryRun || action.kind === 'none') return report;

    if (action.kind === 'scale-up') {
      await call(`SetDesiredCapacity ${config.autoscaleGroup}`, (signal) =>
        groups.setDesiredCapacity(config.autoscaleGroup, action.to, { signal }),
      );
      report.acted = true;
      return report;
    }

    // Drain first: ECS stops placing tasks there and moves the service tasks away; the gate
    // then holds the terminating instance until the rest have stopped.
    await call(`UpdateContainerInstancesState DRAINING ${action.containerInstanceArn}`, (signal) =>
      ecs.setContainerInstancesState(cluster, [action.containerInstanceArn], 'DRAINING', {
        signal,
      }),
    );
    try {
      await call(`TerminateInstanceInAutoScalingGroup ${action.instanceId}`, (signal) =>
        groups.terminateInstance(action.instanceId, { signal }),
      );
    } catch (err) {
      const reason = errorMessage(err);
      try {
        await call(
          `UpdateContainerInstancesState ACTIVE ${action.containerInstanceArn}`,
          (signal) =>
            ecs.setContainerInstancesState(cluster, [action.containerInstanceArn], 'ACTIVE', {
              signal,
            }),
        );
      } catch (undo) {
        log.error('scale: could not set the instance ACTIVE again', {
          ...where,
          instanceId: action.instanceId,
          reason: errorMessage(undo),
        });
      }
      throw new Error(`terminating ${action.instanceId} failed (set ACTIVE again): ${reason}`, {
        cause: err,
      });
    }
    report.acted = true;
    return report;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error('scale: cluster not scaled', { ...where, reason: message });
    return { ...report, outcome: 'failed', message };
  }
}

/** Tasks a service is about to add: desired − running − pending, each its definition's size. */
async function addTasks(
  additions: EcsResources[],
  service: EcsService,
  desired: number,
  reservationOf: (taskDefinition: string) => Promise<EcsResources>,
): Promise<void> {
  const coming = desired - service.runningCount - service.pendingCount;
  if (coming <= 0 || !service.taskDefinition) return;
  const size = await reservationOf(service.taskDefinition);
  for (let i = 0; i < coming; i++) additions.push({ cpu: size.cpu, memoryMb: size.memoryMb });
}

async function daemonsOf(
  tasks: readonly { group?: string; lastStatus: string }[],
  describe: (names: string[]) => Promise<EcsService[]>,
): Promise<Set<string>> {
  const names = [
    ...new Set(
      tasks.filter((t) => t.lastStatus !== 'STOPPED').flatMap((t) => serviceOfTask(t) ?? []),
    ),
  ];
  if (names.length === 0) return new Set();
  const services = await describe(names);
  return new Set(services.filter((s) => s.schedulingStrategy === 'DAEMON').map((s) => s.name));
}
