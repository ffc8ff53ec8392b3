/**
 * An ECS-on-EC2 cluster model for the simulator: the semantics moto lacks, behind the same
 * ports the real adapters implement (EcsClusterState, EcsClusterControl), on the caller's
 * clock. sim/ecs-client.ts puts it behind a fake ECSClient, so the real adapter
 * (lib/aws/ecs.ts) runs against it.
 *
 * - Tasks are placed by CPU and memory on ACTIVE container instances only (the first with
 *   room, or `place`'s choice); a task that fits nowhere stays pending (the service's
 *   pendingCount; nothing is placed).
 * - A task is PENDING for `startMs` after it is placed, then RUNNING; a stop (the service
 *   scaling in, draining, the essential container exiting) makes its desired status STOPPED
 *   at once and its last status DEACTIVATING until `stopMs` later, then STOPPED. A task
 *   holds its CPU and memory until it has STOPPED.
 * - A service starts and stops tasks to reach its desired count (`reconcile`), removing
 *   tasks from DRAINING instances first.
 * - DRAINING stops the service tasks on the instance and starts replacements elsewhere
 *   (when they fit); standalone tasks (RunTask) run to their end; daemon tasks stop last,
 *   once nothing else runs there.
 * - A terminated EC2 instance deregisters: its tasks STOP at once and it becomes INACTIVE.
 *
 * `reconcile()` is ECS's scheduler: with `at` given the model calls it by itself whenever
 * something is due (a task ending, a stop completing); otherwise call it when time passes.
 * `onWork` hears, for each EC2 instance, when the span of its work changes — its non-daemon
 * tasks from placement until STOPPED — which is what "busy" means in ECS mode
 * (lib/ecs/busy.ts); the simulator's checker reads it as the instance's work schedule.
 */
import type {
  ContainerInstance,
  EcsClusterControl,
  EcsClusterState,
  EcsResources,
  EcsService,
  EcsTask,
  TaskReservation,
} from '../lib/ports.js';
import type { WorkUnit } from './work.js';

export const ECS_ARN_PREFIX = 'arn:aws:ecs:us-east-1:123456789012';

export interface ModelInstance {
  arn: string;
  ec2InstanceId: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  registered: EcsResources;
}

interface ModelTask {
  arn: string;
  group: string;
  containerInstanceArn: string;
  taskDefinition: string;
  cpu: number;
  memoryMb: number;
  placedAt: number;
  runningAt: number;
  /** Standalone tasks: when the essential container exits. */
  exitsAt?: number;
  /** When it was asked to stop (desired status STOPPED from then on). */
  stopAt?: number;
  /** When it has STOPPED. */
  stoppedAt?: number;
}

interface ModelService {
  name: string;
  taskDefinition: string;
  desiredCount: number;
  schedulingStrategy: 'REPLICA' | 'DAEMON';
}

export interface EcsModelOptions {
  /** How long a placed task stays PENDING (ms; default 0). */
  startMs?: () => number;
  /** From a stop request to STOPPED (ms; default 0). */
  stopMs?: () => number;
  /** Run `fn` at virtual time `atMs` (ECS acting on its own); without it, call reconcile(). */
  at?: (atMs: number, fn: () => void) => void;
  /** Which of the instances with room gets a task (default: the first, in registration order). */
  place?: (candidates: readonly ModelInstance[]) => ModelInstance;
  /** The span of an EC2 instance's work changed (merged busy units, open-ended while running). */
  onWork?: (ec2InstanceId: string, units: WorkUnit[]) => void;
  /** Each state change, as a line of the story. */
  onEvent?: (text: string, ec2InstanceId?: string) => void;
}

export type TaskStatus = 'PENDING' | 'RUNNING' | 'DEACTIVATING' | 'STOPPED';

export class EcsClusterModel implements EcsClusterState, EcsClusterControl {
  private readonly instances: ModelInstance[] = [];
  private readonly taskList: ModelTask[] = [];
  private readonly serviceMap = new Map<string, ModelService>();
  private counter = 0;
  /** Every state change ECS made, for the story and the assertions. */
  readonly events: string[] = [];
  readonly arn: string;

  constructor(
    readonly name: string,
    private readonly now: () => number,
    private readonly definitions: Record<string, EcsResources>,
    private readonly options: EcsModelOptions = {},
  ) {
    this.arn = `${ECS_ARN_PREFIX}:cluster/${name}`;
  }

  // --- the world's side -----------------------------------------------------------------

  register(ec2InstanceId: string, registered: EcsResources): string {
    const arn = `${ECS_ARN_PREFIX}:container-instance/${this.name}/ci-${++this.counter}`;
    this.instances.push({ arn, ec2InstanceId, status: 'ACTIVE', registered });
    this.note(`${ec2InstanceId} registered in ECS cluster ${this.name}`, ec2InstanceId);
    this.reconcile();
    return arn;
  }

  /** The EC2 instance is gone: whatever ran there has stopped. */
  deregister(ec2InstanceId: string): void {
    for (const ci of this.instances.filter((i) => i.ec2InstanceId === ec2InstanceId)) {
      if (ci.status === 'INACTIVE') continue;
      ci.status = 'INACTIVE';
      for (const t of this.alive(ci.arn)) {
        if (t.stopAt === undefined) this.stop(t, 'instance terminated', true);
        else t.stoppedAt = this.now(); // it was stopping: killed with the instance
      }
    }
    this.reconcile();
  }

  isRegistered(ec2InstanceId: string): boolean {
    return this.instances.some((i) => i.ec2InstanceId === ec2InstanceId && i.status !== 'INACTIVE');
  }

  createService(
    name: string,
    taskDefinition: string,
    desiredCount: number,
    schedulingStrategy: 'REPLICA' | 'DAEMON' = 'REPLICA',
  ): void {
    this.serviceMap.set(name, { name, taskDefinition, desiredCount, schedulingStrategy });
    this.reconcile();
  }

  /** A standalone task (RunTask) on an ACTIVE instance with room; its ARN, or undefined. */
  runTask(taskDefinition: string, durationMs: number, ec2InstanceId?: string): string | undefined {
    const size = this.sizeOf(taskDefinition);
    const ci = this.placeOn(
      (i) =>
        i.status === 'ACTIVE' &&
        (ec2InstanceId === undefined || i.ec2InstanceId === ec2InstanceId) &&
        this.fits(i, size),
    );
    if (!ci) return undefined;
    const task = this.start(ci, taskDefinition, `family:${taskDefinition}`);
    task.exitsAt = task.runningAt + durationMs;
    this.due(task.exitsAt);
    return task.arn;
  }

  /** ECS's scheduler: end finished tasks, drain, and bring services to their desired count. */
  reconcile(): void {
    const now = this.now();
    for (const t of this.taskList) {
      if (t.stopAt === undefined && t.exitsAt !== undefined && t.exitsAt <= now) {
        this.stop(t, 'essential container exited', false, t.exitsAt);
      }
    }
    for (const service of this.serviceMap.values()) {
      const group = `service:${service.name}`;
      if (service.schedulingStrategy === 'DAEMON') {
        for (const ci of this.instances) {
          const mine = this.alive(ci.arn).filter((t) => t.group === group);
          const others = this.alive(ci.arn).filter((t) => t.group !== group);
          if (
            ci.status === 'ACTIVE' &&
            mine.length === 0 &&
            this.fits(ci, this.sizeOf(service.taskDefinition))
          ) {
            this.start(ci, service.taskDefinition, group);
          } else if (ci.status === 'DRAINING' && others.length === 0) {
            for (const t of mine.filter((m) => m.stopAt === undefined))
              this.stop(t, 'daemon stopped last on a draining instance');
          }
        }
        continue;
      }
      // Service tasks leave DRAINING instances (a replacement is started below).
      for (const t of this.taskList) {
        if (t.group !== group || t.stopAt !== undefined) continue;
        if (this.instanceOf(t)?.status === 'DRAINING')
          this.stop(t, 'container instance is draining');
      }
      // Tasks asked to stop no longer count towards the desired count.
      let tasks = this.taskList.filter((t) => t.group === group && t.stopAt === undefined);
      while (tasks.length > service.desiredCount) {
        this.stop(tasks.pop()!, 'scaled in by the service');
      }
      const size = this.sizeOf(service.taskDefinition);
      while (tasks.length < service.desiredCount) {
        const ci = this.placeOn((i) => i.status === 'ACTIVE' && this.fits(i, size));
        if (!ci) break; // pending: nowhere to place it
        tasks = [...tasks, this.start(ci, service.taskDefinition, group)];
      }
    }
  }

  /** A task's last status now. */
  statusOf(taskArn: string): TaskStatus | undefined {
    const t = this.taskList.find((x) => x.arn === taskArn);
    return t ? this.lastStatus(t) : undefined;
  }

  /** The cluster's services, as the model holds them. */
  serviceNames(): string[] {
    return [...this.serviceMap.keys()];
  }

  /** The container instance an EC2 instance is registered as (not INACTIVE), if any. */
  containerInstanceOf(ec2InstanceId: string): ModelInstance | undefined {
    return this.instances.find((i) => i.ec2InstanceId === ec2InstanceId && i.status !== 'INACTIVE');
  }

  /** Every container instance ever registered (INACTIVE ones too). */
  allContainerInstances(): readonly ModelInstance[] {
    return this.instances;
  }

  /** Tasks as DescribeTasks reports them now (every task, STOPPED ones too). */
  taskViews(): EcsTask[] {
    return this.taskList.map((t) => this.view(t));
  }

  /** Non-daemon tasks of an EC2 instance that have not STOPPED: its ECS work now. */
  workOn(ec2InstanceId: string): EcsTask[] {
    const arns = new Set(
      this.instances.filter((i) => i.ec2InstanceId === ec2InstanceId).map((i) => i.arn),
    );
    return this.taskList
      .filter(
        (t) =>
          arns.has(t.containerInstanceArn) && !this.isDaemon(t) && this.lastStatus(t) !== 'STOPPED',
      )
      .map((t) => this.view(t));
  }

  // --- EcsClusterState ------------------------------------------------------------------

  async containerInstances(
    _cluster: string,
    query: { ec2InstanceIds?: string[]; status?: string } = {},
  ): Promise<ContainerInstance[]> {
    return this.instances
      .filter((ci) => (query.status ? ci.status === query.status : ci.status !== 'INACTIVE'))
      .filter((ci) => !query.ec2InstanceIds || query.ec2InstanceIds.includes(ci.ec2InstanceId))
      .map((ci) => this.describeInstance(ci));
  }

  describeInstance(ci: ModelInstance): ContainerInstance {
    const alive = this.alive(ci.arn);
    const used = alive.reduce(
      (u, t) => ({ cpu: u.cpu + t.cpu, memoryMb: u.memoryMb + t.memoryMb }),
      { cpu: 0, memoryMb: 0 },
    );
    return {
      arn: ci.arn,
      ec2InstanceId: ci.ec2InstanceId,
      status: ci.status,
      agentConnected: ci.status !== 'INACTIVE',
      registered: { ...ci.registered },
      remaining: {
        cpu: ci.registered.cpu - used.cpu,
        memoryMb: ci.registered.memoryMb - used.memoryMb,
      },
      runningTasksCount: alive.filter((t) => this.lastStatus(t) !== 'PENDING').length,
      pendingTasksCount: alive.filter((t) => this.lastStatus(t) === 'PENDING').length,
    };
  }

  async tasks(_cluster: string, query: { containerInstance?: string } = {}): Promise<EcsTask[]> {
    return this.taskList
      .filter((t) => !query.containerInstance || t.containerInstanceArn === query.containerInstance)
      .map((t) => this.view(t));
  }

  async services(_cluster: string, names: string[]): Promise<EcsService[]> {
    return this.describeServices(names);
  }

  /** Services by name or ARN, as DescribeServices reports them now; unknown ones are absent. */
  describeServices(names: readonly string[]): EcsService[] {
    return names.flatMap((nameOrArn) => {
      const s = this.serviceMap.get(nameOrArn.slice(nameOrArn.lastIndexOf('/') + 1));
      if (!s) return [];
      const group = `service:${s.name}`;
      const alive = this.taskList.filter((t) => t.group === group && t.stopAt === undefined);
      const running = alive.filter((t) => this.lastStatus(t) === 'RUNNING').length;
      return [
        {
          name: s.name,
          arn: `${ECS_ARN_PREFIX}:service/${this.name}/${s.name}`,
          schedulingStrategy: s.schedulingStrategy,
          status: 'ACTIVE',
          desiredCount: s.desiredCount,
          runningCount: running,
          pendingCount: Math.max(0, s.desiredCount - running),
          taskDefinition: s.taskDefinition,
        },
      ];
    });
  }

  /** A task definition's reservation, if the cluster knows it. */
  definitionOf(taskDefinition: string): EcsResources | undefined {
    return this.definitions[taskDefinition];
  }

  async serviceArns(): Promise<string[]> {
    return [...this.serviceMap.keys()].map((n) => `${ECS_ARN_PREFIX}:service/${this.name}/${n}`);
  }

  async taskReservation(taskDefinition: string): Promise<TaskReservation> {
    return { taskDefinitionArn: taskDefinition, ...this.sizeOf(taskDefinition) };
  }

  // --- EcsClusterControl ----------------------------------------------------------------

  async setContainerInstancesState(
    _cluster: string,
    arns: string[],
    status: 'ACTIVE' | 'DRAINING',
  ): Promise<void> {
    const missing = this.setState(arns, status);
    if (missing.length) {
      throw Object.assign(new Error(`${missing.join(', ')}: MISSING`), { name: 'EcsFailure' });
    }
  }

  /** UpdateContainerInstancesState: returns the ARNs ECS does not know (or INACTIVE ones). */
  setState(arns: readonly string[], status: 'ACTIVE' | 'DRAINING'): string[] {
    const missing: string[] = [];
    for (const arn of arns) {
      const ci = this.instances.find((i) => i.arn === arn && i.status !== 'INACTIVE');
      if (!ci) {
        missing.push(arn);
        continue;
      }
      if (ci.status !== status) this.note(`${ci.ec2InstanceId} ${status}`, ci.ec2InstanceId);
      ci.status = status;
    }
    this.reconcile();
    return missing;
  }

  async setDesiredCount(_cluster: string, service: string, desiredCount: number): Promise<void> {
    const s = this.serviceMap.get(service);
    if (!s)
      throw Object.assign(new Error(`service ${service} not found`), {
        name: 'ServiceNotFoundException',
      });
    s.desiredCount = desiredCount;
    this.reconcile();
  }

  // --- internals ----------------------------------------------------------------------

  private lastStatus(t: ModelTask): TaskStatus {
    const now = this.now();
    if (t.stoppedAt !== undefined && now >= t.stoppedAt) return 'STOPPED';
    if (t.stopAt !== undefined && now >= t.stopAt) return 'DEACTIVATING';
    return now < t.runningAt ? 'PENDING' : 'RUNNING';
  }

  private view(t: ModelTask): EcsTask {
    const lastStatus = this.lastStatus(t);
    return {
      arn: t.arn,
      group: t.group,
      lastStatus,
      desiredStatus: t.stopAt !== undefined && t.stopAt <= this.now() ? 'STOPPED' : 'RUNNING',
      containerInstanceArn: t.containerInstanceArn,
      taskDefinitionArn: t.taskDefinition,
      ...(lastStatus === 'STOPPED' ? { stoppedAtMs: t.stoppedAt! } : {}),
      cpu: t.cpu,
      memoryMb: t.memoryMb,
    };
  }

  private isDaemon(t: ModelTask): boolean {
    const service = t.group.startsWith('service:') ? t.group.slice('service:'.length) : undefined;
    return service !== undefined && this.serviceMap.get(service)?.schedulingStrategy === 'DAEMON';
  }

  private sizeOf(taskDefinition: string): EcsResources {
    const size = this.definitions[taskDefinition];
    if (!size) throw new Error(`no task definition ${taskDefinition}`);
    return size;
  }

  /** Tasks on the instance that have not STOPPED (they hold its resources). */
  private alive(containerInstanceArn: string): ModelTask[] {
    return this.taskList.filter(
      (t) => t.containerInstanceArn === containerInstanceArn && this.lastStatus(t) !== 'STOPPED',
    );
  }

  private instanceOf(task: ModelTask): ModelInstance | undefined {
    return this.instances.find((i) => i.arn === task.containerInstanceArn);
  }

  private placeOn(ok: (ci: ModelInstance) => boolean): ModelInstance | undefined {
    const candidates = this.instances.filter(ok);
    if (candidates.length === 0) return undefined;
    return this.options.place ? this.options.place(candidates) : candidates[0];
  }

  private fits(ci: ModelInstance, size: EcsResources): boolean {
    const used = this.alive(ci.arn).reduce(
      (u, t) => ({ cpu: u.cpu + t.cpu, memoryMb: u.memoryMb + t.memoryMb }),
      { cpu: 0, memoryMb: 0 },
    );
    return (
      size.cpu <= ci.registered.cpu - used.cpu &&
      size.memoryMb <= ci.registered.memoryMb - used.memoryMb
    );
  }

  /** Ask the clock to run reconcile at `atMs` (when the model has one). */
  private due(atMs: number): void {
    this.options.at?.(atMs, () => this.reconcile());
  }

  private start(ci: ModelInstance, taskDefinition: string, group: string): ModelTask {
    const now = this.now();
    const task: ModelTask = {
      arn: `${ECS_ARN_PREFIX}:task/${this.name}/t-${++this.counter}`,
      group,
      containerInstanceArn: ci.arn,
      taskDefinition,
      ...this.sizeOf(taskDefinition),
      placedAt: now,
      runningAt: now + (this.options.startMs?.() ?? 0),
    };
    this.taskList.push(task);
    this.note(`${group} started on ${ci.ec2InstanceId}`, ci.ec2InstanceId);
    this.workChanged(ci);
    return task;
  }

  private stop(task: ModelTask, why: string, atOnce = false, at = this.now()): void {
    task.stopAt = at;
    task.stoppedAt = at + (atOnce ? 0 : (this.options.stopMs?.() ?? 0));
    const ci = this.instanceOf(task);
    this.note(`${task.group} stopped on ${ci?.ec2InstanceId ?? '?'}: ${why}`, ci?.ec2InstanceId);
    // The stop frees room and may leave a draining instance with only its daemons.
    if (task.stoppedAt > this.now()) this.due(task.stoppedAt);
    if (ci) this.workChanged(ci);
  }

  private note(text: string, ec2InstanceId?: string): void {
    this.events.push(text);
    this.options.onEvent?.(text, ec2InstanceId);
  }

  private workChanged(ci: ModelInstance): void {
    const onWork = this.options.onWork;
    if (!onWork) return;
    const arns = new Set(
      this.instances.filter((i) => i.ec2InstanceId === ci.ec2InstanceId).map((i) => i.arn),
    );
    const spans = this.taskList
      .filter((t) => arns.has(t.containerInstanceArn) && !this.isDaemon(t))
      .map((t) => ({ startMs: t.placedAt, endMs: t.stoppedAt ?? Number.POSITIVE_INFINITY }))
      .sort((a, b) => a.startMs - b.startMs);
    const units: WorkUnit[] = [];
    for (const s of spans) {
      const last = units.at(-1);
      if (last && s.startMs <= last.endMs) last.endMs = Math.max(last.endMs, s.endMs);
      else units.push({ ...s });
    }
    onWork(ci.ec2InstanceId, units);
  }
}
