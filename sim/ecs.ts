/**
 * An ECS-on-EC2 cluster model for the simulator: the semantics moto lacks, behind the same
 * ports the real adapters implement (EcsClusterState, EcsClusterControl), on the caller's
 * clock.
 *
 * - Tasks are placed by CPU and memory (first fit, in registration order) on ACTIVE
 *   container instances only; a task that fits nowhere stays pending (the service's
 *   pendingCount, the instance's pendingTasksCount stays 0 — nothing is placed).
 * - A service starts and stops tasks to reach its desired count (`reconcile`), removing
 *   tasks from DRAINING instances first.
 * - DRAINING stops the service tasks on the instance and starts replacements elsewhere
 *   (when they fit); standalone tasks (RunTask) run to their end; daemon tasks stop last,
 *   once nothing else runs there.
 * - A standalone task stops when its duration has passed.
 * - A terminated EC2 instance deregisters: its tasks STOP and it becomes INACTIVE.
 *
 * `reconcile()` is ECS's scheduler: call it whenever time passes or state changes.
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

const ARN = 'arn:aws:ecs:us-east-1:123456789012';

interface ModelInstance {
  arn: string;
  ec2InstanceId: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  registered: EcsResources;
}

interface ModelTask extends EcsTask {
  cpu: number;
  memoryMb: number;
  /** Standalone tasks: when the work is done. */
  endsAtMs?: number;
}

interface ModelService {
  name: string;
  taskDefinition: string;
  desiredCount: number;
  schedulingStrategy: 'REPLICA' | 'DAEMON';
}

export class EcsClusterModel implements EcsClusterState, EcsClusterControl {
  private readonly instances: ModelInstance[] = [];
  private readonly taskList: ModelTask[] = [];
  private readonly serviceMap = new Map<string, ModelService>();
  private counter = 0;
  /** Every state change ECS made, for the story and the assertions. */
  readonly events: string[] = [];

  constructor(
    readonly name: string,
    private readonly now: () => number,
    private readonly definitions: Record<string, EcsResources>,
  ) {}

  // --- the world's side -----------------------------------------------------------------

  register(ec2InstanceId: string, registered: EcsResources): string {
    const arn = `${ARN}:container-instance/${this.name}/ci-${++this.counter}`;
    this.instances.push({ arn, ec2InstanceId, status: 'ACTIVE', registered });
    this.reconcile();
    return arn;
  }

  /** The EC2 instance is gone: whatever ran there has stopped. */
  deregister(ec2InstanceId: string): void {
    for (const ci of this.instances.filter((i) => i.ec2InstanceId === ec2InstanceId)) {
      ci.status = 'INACTIVE';
      for (const t of this.running(ci.arn)) this.stop(t, 'instance terminated');
    }
    this.reconcile();
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

  /** A standalone task (RunTask) on the first ACTIVE instance with room; its ARN, or undefined. */
  runTask(taskDefinition: string, durationMs: number, ec2InstanceId?: string): string | undefined {
    const size = this.sizeOf(taskDefinition);
    const ci = this.instances.find(
      (i) =>
        i.status === 'ACTIVE' &&
        (ec2InstanceId === undefined || i.ec2InstanceId === ec2InstanceId) &&
        this.fits(i, size),
    );
    if (!ci) return undefined;
    return this.start(ci, taskDefinition, `family:${taskDefinition}`, this.now() + durationMs).arn;
  }

  /** ECS's scheduler: end finished tasks, drain, and bring services to their desired count. */
  reconcile(): void {
    const now = this.now();
    for (const t of this.taskList) {
      if (t.lastStatus !== 'STOPPED' && t.endsAtMs !== undefined && t.endsAtMs <= now) {
        this.stop(t, 'essential container exited');
      }
    }
    for (const service of this.serviceMap.values()) {
      const group = `service:${service.name}`;
      if (service.schedulingStrategy === 'DAEMON') {
        for (const ci of this.instances) {
          const mine = this.running(ci.arn).filter((t) => t.group === group);
          const others = this.running(ci.arn).filter((t) => t.group !== group);
          if (
            ci.status === 'ACTIVE' &&
            mine.length === 0 &&
            this.fits(ci, this.sizeOf(service.taskDefinition))
          ) {
            this.start(ci, service.taskDefinition, group);
          } else if (ci.status === 'DRAINING' && others.length === 0) {
            for (const t of mine) this.stop(t, 'daemon stopped last on a draining instance');
          }
        }
        continue;
      }
      // Service tasks leave DRAINING instances (a replacement is started below).
      for (const t of this.taskList) {
        if (t.group !== group || t.lastStatus === 'STOPPED') continue;
        if (this.instanceOf(t)?.status === 'DRAINING')
          this.stop(t, 'container instance is draining');
      }
      let tasks = this.taskList.filter((t) => t.group === group && t.lastStatus !== 'STOPPED');
      while (tasks.length > service.desiredCount) {
        this.stop(tasks.pop()!, 'scaled in by the service');
      }
      const size = this.sizeOf(service.taskDefinition);
      while (tasks.length < service.desiredCount) {
        const ci = this.instances.find((i) => i.status === 'ACTIVE' && this.fits(i, size));
        if (!ci) break; // pending: nowhere to place it
        tasks = [...tasks, this.start(ci, service.taskDefinition, group)];
      }
    }
  }

  // --- EcsClusterState ------------------------------------------------------------------

  async containerInstances(
    _cluster: string,
    query: { ec2InstanceIds?: string[]; status?: string } = {},
  ): Promise<ContainerInstance[]> {
    return this.instances
      .filter((ci) => (query.status ? ci.status === query.status : ci.status !== 'INACTIVE'))
      .filter((ci) => !query.ec2InstanceIds || query.ec2InstanceIds.includes(ci.ec2InstanceId))
      .map((ci) => {
        const running = this.running(ci.arn);
        const used = running.reduce(
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
          runningTasksCount: running.length,
          pendingTasksCount: 0,
        };
      });
  }

  async tasks(_cluster: string, query: { containerInstance?: string } = {}): Promise<EcsTask[]> {
    return this.taskList
      .filter((t) => !query.containerInstance || t.containerInstanceArn === query.containerInstance)
      .map(({ endsAtMs: _ends, ...t }) => ({ ...t }));
  }

  async services(_cluster: string, names: string[]): Promise<EcsService[]> {
    return names.flatMap((name) => {
      const s = this.serviceMap.get(name);
      if (!s) return [];
      const group = `service:${s.name}`;
      const running = this.taskList.filter((t) => t.group === group && t.lastStatus !== 'STOPPED');
      return [
        {
          name: s.name,
          arn: `${ARN}:service/${this.name}/${s.name}`,
          schedulingStrategy: s.schedulingStrategy,
          status: 'ACTIVE',
          desiredCount: s.desiredCount,
          runningCount: running.length,
          pendingCount: Math.max(0, s.desiredCount - running.length),
          taskDefinition: s.taskDefinition,
        },
      ];
    });
  }

  async serviceArns(): Promise<string[]> {
    return [...this.serviceMap.keys()].map((n) => `${ARN}:service/${this.name}/${n}`);
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
    for (const arn of arns) {
      const ci = this.instances.find((i) => i.arn === arn && i.status !== 'INACTIVE');
      if (!ci) throw Object.assign(new Error(`${arn}: MISSING`), { name: 'EcsFailure' });
      if (ci.status !== status) this.events.push(`${ci.ec2InstanceId} ${status}`);
      ci.status = status;
    }
    this.reconcile();
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

  private sizeOf(taskDefinition: string): EcsResources {
    const size = this.definitions[taskDefinition];
    if (!size) throw new Error(`no task definition ${taskDefinition}`);
    return size;
  }

  private running(containerInstanceArn: string): ModelTask[] {
    return this.taskList.filter(
      (t) => t.containerInstanceArn === containerInstanceArn && t.lastStatus !== 'STOPPED',
    );
  }

  private instanceOf(task: ModelTask): ModelInstance | undefined {
    return this.instances.find((i) => i.arn === task.containerInstanceArn);
  }

  private fits(ci: ModelInstance, size: EcsResources): boolean {
    const used = this.running(ci.arn).reduce(
      (u, t) => ({ cpu: u.cpu + t.cpu, memoryMb: u.memoryMb + t.memoryMb }),
      { cpu: 0, memoryMb: 0 },
    );
    return (
      size.cpu <= ci.registered.cpu - used.cpu &&
      size.memoryMb <= ci.registered.memoryMb - used.memoryMb
    );
  }

  private start(
    ci: ModelInstance,
    taskDefinition: string,
    group: string,
    endsAtMs?: number,
  ): ModelTask {
    const task: ModelTask = {
      arn: `${ARN}:task/${this.name}/t-${++this.counter}`,
      group,
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      containerInstanceArn: ci.arn,
      taskDefinitionArn: taskDefinition,
      ...this.sizeOf(taskDefinition),
      ...(endsAtMs !== undefined ? { endsAtMs } : {}),
    };
    this.taskList.push(task);
    this.events.push(`${group} started on ${ci.ec2InstanceId}`);
    return task;
  }

  private stop(task: ModelTask, why: string): void {
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppedAtMs = this.now();
    const where = this.instanceOf(task)?.ec2InstanceId ?? '?';
    this.events.push(`${task.group} stopped on ${where}: ${why}`);
  }
}
