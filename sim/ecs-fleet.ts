/**
 * ECS-mode groups in the simulator's fleet: each such Auto Scaling group runs an ECS cluster
 * (sim/ecs.ts) on its instances, and the group names the cluster by tag
 * (`themis:ecs-cluster`), so protect and the gate run in ECS mode, through the real adapter
 * (lib/aws/ecs.ts) against a fake ECSClient (sim/ecs-client.ts).
 *
 * - An instance's ECS agent registers `agentMs` after launch (the initial ones at once); it
 *   deregisters when the instance is let go (its tasks stop then).
 * - The cluster runs an optional DAEMON service (on every instance), an optional REPLICA
 *   service, and standalone jobs (RunTask) arriving at random, each placed by ECS on an
 *   ACTIVE instance with room; a job that fits nowhere is dropped.
 * - Tasks are PENDING for `startMs` and take `stopMs` to stop (drawn per task).
 * - An instance's work is the span of its non-daemon tasks until they have STOPPED — the ECS
 *   busy rule (lib/ecs/busy.ts) — and becomes the fleet's work schedule for the instance, so
 *   the checker (sim/invariants.ts) judges "busy" in ECS mode by ECS itself.
 */
import type { ECSClient } from '@aws-sdk/client-ecs';
import { classifyInstances, serviceOfTask } from '../lib/ecs/busy.js';
import type {
  CallOptions,
  ContainerInstance,
  EcsClusterState,
  EcsResources,
  EcsTask,
  ProbeStatus,
} from '../lib/ports.js';
import { createFakeEcsClient } from './ecs-client.js';
import { EcsClusterModel } from './ecs.js';
import type { Fleet } from './fleet.js';
import type { Journal, JournalEntry } from './journal.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { CallEnv, Storm } from './sdk.js';
import { WorkSchedule } from './work.js';

export const ECS_CLUSTER_TAG = 'themis:ecs-cluster';

/** Task sizes in the simulated clusters. */
export const ECS_TASK_SIZES: Readonly<Record<string, EcsResources>> = Object.freeze({
  job: { cpu: 512, memoryMb: 1024 },
  web: { cpu: 512, memoryMb: 1024 },
  agent: { cpu: 64, memoryMb: 128 },
});
/** One container instance: room for three jobs or service tasks beside the daemon. */
export const ECS_INSTANCE_SIZE: EcsResources = Object.freeze({ cpu: 2048, memoryMb: 3328 });

export type Range = readonly [number, number];

export interface EcsJobs {
  /** No job arrives after this (virtual ms since the epoch). */
  untilMs: number;
  gapMs: Range;
  durationMs: Range;
}

export interface EcsClusterSpec {
  /** The Auto Scaling group whose instances form the cluster. */
  group: string;
  /** The cluster's name (default: the group's). */
  cluster?: string;
  daemon?: boolean;
  /** A REPLICA service's desired count at the start. */
  service?: number;
  jobs?: EcsJobs;
  /** Virtual ms from launch to the agent's registration (default [10 s, 40 s]). */
  agentMs?: Range;
  /** PENDING → RUNNING (default [2 s, 30 s]). */
  startMs?: Range;
  /** Stop request → STOPPED (default [1 s, 30 s]). */
  stopMs?: Range;
  /** Where ECS places a task among the instances with room (default: at random). */
  placement?: 'random' | 'first';
}

export interface EcsWorldOptions {
  clusters: readonly EcsClusterSpec[];
  /** Windows in which ECS throttles every request (ThrottlingException). */
  throttled?: readonly Storm[];
}

export class EcsWorld {
  readonly clusters = new Map<string, EcsClusterModel>();
  private readonly byGroup = new Map<string, { spec: EcsClusterSpec; model: EcsClusterModel }>();
  /** Jobs that found no room anywhere. */
  dropped = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly fleet: Fleet,
    private readonly journal: Journal,
    readonly options: EcsWorldOptions,
  ) {
    for (const spec of options.clusters) {
      const name = spec.cluster ?? spec.group;
      const draw = (r: Range | undefined, fallback: Range) => () =>
        this.random.int((r ?? fallback)[0], (r ?? fallback)[1]);
      const model = new EcsClusterModel(
        name,
        scheduler.now,
        { ...ECS_TASK_SIZES },
        {
          startMs: draw(spec.startMs, [2000, 30_000]),
          stopMs: draw(spec.stopMs, [1000, 30_000]),
          at: (atMs, fn) => scheduler.at(atMs, `ecs ${name}`, fn),
          ...(spec.placement === 'first' ? {} : { place: (c) => this.random.pick(c) }),
          onWork: (instanceId, units) => {
            if (this.fleet.instance(instanceId))
              this.fleet.setWork(instanceId, new WorkSchedule(units));
          },
          onEvent: (text, instanceId) =>
            this.journal.add('ecs', `ECS ${name}: ${text}`, {
              group: spec.group,
              ...(instanceId ? { instanceId } : {}),
              data: { ecs: true },
            }),
        },
      );
      if (spec.daemon) model.createService('log-agent', 'agent', 0, 'DAEMON');
      model.createService('web', 'web', spec.service ?? 0);
      this.clusters.set(name, model);
      this.byGroup.set(spec.group, { spec, model });
      if (spec.jobs) this.scheduleJob(spec, model, spec.jobs);
    }
    journal.subscribe((e) => this.onJournal(e));
  }

  /** The tags that put a group in ECS mode. */
  tagsFor(group: string): Record<string, string> {
    const c = this.byGroup.get(group);
    return c ? { [ECS_CLUSTER_TAG]: c.model.name } : {};
  }

  isEcsGroup(group: string): boolean {
    return this.byGroup.has(group);
  }

  modelOf(group: string): EcsClusterModel | undefined {
    return this.byGroup.get(group)?.model;
  }

  /** One Lambda container's ECSClient. */
  client(env: CallEnv): ECSClient {
    const throttled = this.options.throttled ?? [];
    return createFakeEcsClient(
      {
        clusters: this.clusters,
        throttled: (at) => throttled.some((s) => s.fromMs <= at && at < s.toMs),
        now: this.scheduler.now,
      },
      env,
    );
  }

  private onJournal(e: JournalEntry): void {
    if (!e.group || !e.instanceId) return;
    const c = this.byGroup.get(e.group);
    if (!c) return;
    const id = e.instanceId;
    if (e.kind === 'launch') {
      // Launched InService: a group's first instances, whose agents are up already.
      const atOnce = e.data?.state === 'InService';
      const [min, max] = c.spec.agentMs ?? [10_000, 40_000];
      const register = () => {
        const inst = this.fleet.instance(id);
        if (!inst || !['Pending', 'InService', 'Terminating:Wait'].includes(inst.lifecycleState))
          return;
        c.model.register(id, { ...ECS_INSTANCE_SIZE });
      };
      if (atOnce) register();
      else this.scheduler.after(this.random.int(min, max), `ecs agent ${id}`, register);
    } else if (e.kind === 'terminated') {
      c.model.deregister(id);
    }
  }

  private scheduleJob(spec: EcsClusterSpec, model: EcsClusterModel, jobs: EcsJobs): void {
    const next = this.scheduler.now() + this.random.int(jobs.gapMs[0], jobs.gapMs[1]);
    if (next > jobs.untilMs) return;
    this.scheduler.at(next, `ecs job ${model.name}`, () => {
      const duration = this.random.int(jobs.durationMs[0], jobs.durationMs[1]);
      if (!model.runTask('job', duration)) {
        this.dropped++;
        this.journal.add('ecs', `ECS ${model.name}: a job found no room and was dropped`, {
          group: spec.group,
        });
      }
      this.scheduleJob(spec, model, jobs);
    });
  }
}

/** An instance's ECS work in a few words, for the sandbox's table: "job, web (stopping)". */
export function ecsWorkWords(model: EcsClusterModel, instanceId: string): string {
  if (!model.isRegistered(instanceId)) return 'not registered';
  const tasks = model.workOn(instanceId);
  if (tasks.length === 0) return 'idle';
  const words = tasks.map((t) => {
    const name = (t.group ?? '?').replace(/^(service|family):/, '');
    if (t.lastStatus === 'PENDING') return `${name} (starting)`;
    if (t.desiredStatus === 'STOPPED') return `${name} (stopping)`;
    return name;
  });
  return `BUSY ${words.join(', ')}`;
}

/**
 * What ECS told a reader about each EC2 instance, as the checker's probe records: a
 * wrapper of the port that follows one observation (lib/ecs/observe.ts: container instances,
 * then their tasks, then the services of live service tasks) and, when it is complete,
 * applies the busy rule (lib/ecs/busy.ts) to the answers the reader got; a failed or
 * aborted call records unknown for the instances asked about. The checker's
 * unknown-unprotect property then reads an ECS scan exactly as an HTTP one. It follows one
 * observation at a time: a container scanning two ECS groups at once would mix them (the
 * histories have one ECS group).
 */
export function recordingEcs(
  inner: EcsClusterState,
  record: (instanceId: string, status: ProbeStatus) => void,
): EcsClusterState {
  let seen: { ids: string[]; instances: ContainerInstance[]; tasks: EcsTask[] } | undefined;
  const finish = (daemons: Set<string>) => {
    if (!seen) return;
    const work = classifyInstances({
      ec2InstanceIds: seen.ids,
      containerInstances: seen.instances,
      tasks: seen.tasks,
      daemonServices: daemons,
    });
    for (const [id, w] of work) record(id, w.status);
    seen = undefined;
  };
  const failed = () => {
    for (const id of seen?.ids ?? []) record(id, 'unknown');
    seen = undefined;
  };
  const guard = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      failed();
      throw err;
    }
  };
  return {
    containerInstances: async (cluster, query = {}, opts?: CallOptions) => {
      if (query.ec2InstanceIds) seen = { ids: [...query.ec2InstanceIds], instances: [], tasks: [] };
      const instances = await guard(() => inner.containerInstances(cluster, query, opts));
      if (seen) {
        seen.instances = instances;
        if (instances.length === 0) finish(new Set());
      }
      return instances;
    },
    tasks: async (cluster, query, opts?: CallOptions) => {
      const tasks = await guard(() => inner.tasks(cluster, query, opts));
      if (seen) {
        seen.tasks = tasks;
        const live = tasks.filter((t) => t.lastStatus !== 'STOPPED' && serviceOfTask(t));
        if (live.length === 0) finish(new Set());
      }
      return tasks;
    },
    services: async (cluster, names, opts?: CallOptions) => {
      const services = await guard(() => inner.services(cluster, names, opts));
      finish(new Set(services.filter((s) => s.schedulingStrategy === 'DAEMON').map((s) => s.name)));
      return services;
    },
    serviceArns: (cluster, opts) => inner.serviceArns(cluster, opts),
    taskReservation: (def, opts) => inner.taskReservation(def, opts),
  };
}
