/**
 * A model of EC2 Auto Scaling groups (and the bit of EC2 themis reads) on the virtual clock.
 * It answers the calls themis makes the way the documentation says Auto Scaling does, which
 * moto does not model:
 *
 * - Capacity: Pending + InService instances count towards the desired capacity. Below it the
 *   group launches (Pending for `launchSeconds`, then InService); above it the group scales
 *   in, choosing **unprotected InService instances, oldest first** (AWS's termination
 *   policies are not modelled — any deterministic choice will do). When every candidate is
 *   protected the desired capacity still drops but nothing goes: the group records
 *   "could not scale" and scales in later, when protection is removed.
 * - Health replacement and TerminateInstanceInAutoScalingGroup ignore protection.
 * - A group with an EC2_INSTANCE_TERMINATING hook puts a leaving instance in
 *   Terminating:Wait with a fresh token and emits the EventBridge event. Each
 *   RecordLifecycleActionHeartbeat restarts the HeartbeatTimeout; the global timeout is
 *   min(48 h, 100 × HeartbeatTimeout) from the start; either timeout applies the hook's
 *   DefaultResult. CONTINUE and ABANDON both terminate (it is a terminating hook).
 * - Heartbeat/Complete for an action that has ended fail with ValidationError "No active
 *   Lifecycle Action found …"; SetInstanceProtection fails with ValidationError for more than
 *   50 ids, an instance outside the group, or one not InService (the whole call, nothing
 *   changes).
 *
 * Methods throw SDK-shaped errors (see aws-error.ts); ./ports.ts wraps them in the role
 * interfaces exactly as the SDK adapters do. Capacity reacts to protection removal and to
 * finished terminations after `reconcileDelaySeconds`, to explicit scale-ins at once.
 */
import {
  documentedGlobalTimeoutSeconds,
  LAUNCH_DETAIL_TYPE,
  LAUNCHING,
  PENDING_WAIT,
  PLACE_EC2,
  PLACE_GROUP,
  PLACE_WARM_POOL,
  TERMINATE_DETAIL_TYPE,
  TERMINATING,
  TERMINATING_RETAINED,
  WARM_POOL_RESTING_STATE,
  WARMED_PENDING_RETAINED,
  WARMED_PENDING_WAIT,
  WARMED_TERMINATING_RETAINED,
  type LifecyclePlace,
  type WarmPoolState,
} from '../lib/aws/facts.js';
import type { Passage } from '../lib/gate/warm-pool.js';
import { isLoopbackAddress } from '../lib/probe.js';
import {
  MAX_PROTECTION_BATCH,
  type GroupSnapshot,
  type HookInfo,
  type LifecycleActionRef,
  type LifecycleResult,
} from '../lib/ports.js';
import { validationError } from './aws-error.js';
import type { ProbeBehaviour } from './probers.js';
import type { Journal } from './journal.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';
import { WorkSchedule } from './work.js';

export interface HookSpec {
  name: string;
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
}

export interface GroupSpec {
  name: string;
  desired: number;
  tags?: Record<string, string>;
  /** The terminating lifecycle hook; absent = instances go at once. */
  hook?: HookSpec;
  /** MinSize and MaxSize (default 0 and 100): what SetDesiredCapacity may set. */
  minSize?: number;
  maxSize?: number;
  /**
   * The group's instance lifecycle policy retains abandoned instances (RetentionTriggers.
   * TerminateHookAbandon = retain): an ABANDON of a terminating action — CompleteLifecycleAction's,
   * or a timeout's DefaultResult — keeps the instance running in a Retained state (RETAINED_STATE:
   * Terminating:Retained, or Warmed:Pending:Retained on its way back to the warm pool), outside
   * the desired capacity, until TerminateInstanceInAutoScalingGroup is called for it. A launch
   * hook's ABANDON is never retained (TerminateHookAbandon is the only retention trigger).
   */
  retainOnAbandon?: boolean;
  /**
   * The launching lifecycle hook: instances launched after the start wait in Pending:Wait
   * (Warmed:Pending:Wait on their way into the warm pool) until it is completed or times out;
   * CONTINUE puts them in service, ABANDON terminates them (and the group launches another).
   */
  launchHook?: HookSpec;
  /**
   * A warm pool: with `reuseOnScaleIn`, a scale-in returns the instance to the pool
   * (Warmed:Pending:Wait under the terminate hook, then the pool's resting state — a stop cuts
   * its work like a termination); scale-out restarts pool instances before launching new ones
   * (WarmPool → AutoScalingGroup, under the launch hook). `size` instances are launched into
   * the pool at the start (EC2 → WarmPool, under the launch hook).
   */
  warmPool?: { reuseOnScaleIn: boolean; poolState?: WarmPoolState; size?: number };
}

export type TerminationCause = 'scale-in' | 'health' | 'terminate-api';
export type ActionEnd = 'completed' | 'heartbeat-timeout' | 'global-timeout' | 'hook-deleted';

export interface SimLifecycleAction {
  token: string;
  instanceId: string;
  group: string;
  hookName: string;
  cause: TerminationCause;
  startedAt: number;
  heartbeatDeadlineMs: number;
  globalDeadlineMs: number;
  heartbeats: number;
  /** Virtual times of the recorded heartbeats. */
  heartbeatTimes: number[];
  busyAtStart: boolean;
  protectedAtStart: boolean;
  /** The group's tags when the action began (its dry-run mode, …). */
  tagsAtStart: Record<string, string>;
  ended?: { at: number; by: ActionEnd; result: LifecycleResult; heartbeatTimeoutSeconds: number };
  /** The hook's HeartbeatTimeout and DefaultResult when the action began. */
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  /** TERMINATING unless set (a launch hook's action). */
  transition?: string;
  /** Where the action takes the instance (lib/gate/warm-pool.ts); absent: a plain terminate. */
  passage?: Passage;
}

export interface SimInstance {
  readonly id: string;
  readonly group: string;
  readonly address: string;
  /** Launch order, 1-based, fleet-wide. */
  readonly seq: number;
  readonly launchedAt: number;
  lifecycleState: string;
  protectedFromScaleIn: boolean;
  healthStatus: 'Healthy' | 'Unhealthy';
  /** false once the instance stops answering (crashed, hung, partitioned): every probe is unknown. */
  answering: boolean;
  /** How its status endpoint misbehaves, if it does (then `answering` is false). */
  probeBehaviour?: ProbeBehaviour;
  /** For a 'slow' endpoint: how long an answer takes. */
  probeDelayMs?: number;
  work: WorkSchedule;
  cause?: TerminationCause;
  action?: SimLifecycleAction;
  /** Its worker answers from this time on (launch readiness); before it, connections are refused. */
  readyAt: number;
}

export interface Termination {
  instanceId: string;
  group: string;
  at: number;
  cause: TerminationCause;
  /** The instance would have answered BUSY at the moment it was let go. */
  busy: boolean;
  answering: boolean;
  action?: SimLifecycleAction;
  /** It left Terminating:Retained (TerminateInstanceInAutoScalingGroup): no hook ran again. */
  fromRetained?: boolean;
  /** 'return-to-pool': stopped in the warm pool rather than terminated (its work cut all the same). */
  passage?: Passage;
}

/** An instance kept in a Retained state when its terminating lifecycle action was abandoned. */
export interface Retention {
  instanceId: string;
  group: string;
  at: number;
  /** The Retained state Auto Scaling keeps it in (RETAINED_STATE, by the action's passage). */
  state: string;
  /** Busy at the moment it was retained. */
  busy: boolean;
  action: SimLifecycleAction;
}

/** How a launch lifecycle action ended for its instance. */
export interface LaunchEnd {
  instanceId: string;
  group: string;
  at: number;
  action: SimLifecycleAction;
  /** The worker answered by then (the launch gate may let it go on). */
  ready: boolean;
}

export interface CouldNotScale {
  group: string;
  at: number;
  /** Instances the group wanted to remove and could not (all protected). */
  shortfall: number;
}

/** The EventBridge event Auto Scaling emits for a terminating lifecycle action. */
export interface LifecycleEvent {
  version: '0';
  id: string;
  'detail-type': typeof TERMINATE_DETAIL_TYPE | typeof LAUNCH_DETAIL_TYPE;
  source: 'aws.autoscaling';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: {
    Origin: LifecyclePlace;
    Destination: LifecyclePlace;
    LifecycleActionToken: string;
    AutoScalingGroupName: string;
    LifecycleHookName: string;
    EC2InstanceId: string;
    LifecycleTransition: typeof TERMINATING | typeof LAUNCHING;
    NotificationMetadata?: string;
  };
}

export interface WorkContext {
  instanceId: string;
  group: string;
  launchedAt: number;
  /** A stream forked for this instance: the same seed gives the same work. */
  random: Random;
}

export interface FleetOptions {
  scheduler: Scheduler;
  random: Random;
  journal: Journal;
  region?: string;
  accountId?: string;
  /** Pending → InService for instances launched after the start (default 60 s). */
  launchSeconds?: number;
  /** Delay before the group reacts to protection removal or a finished termination (default 10 s). */
  reconcileDelaySeconds?: number;
  /** Terminating:Proceed → gone (default 5 s). */
  shutdownSeconds?: number;
  /** The work schedule of each new instance (default: always idle). */
  work?: (ctx: WorkContext) => WorkSchedule;
  /** Private address of the n-th instance (1-based). Must be loopback (asserted). */
  addressOf?: (n: number) => string;
  /**
   * Seconds from a launch (or a restart out of the warm pool) until the instance's worker
   * answers; Infinity for one that never comes up. Default: at once.
   */
  readiness?: (ctx: WorkContext) => number;
}

/** 127.0.10.1, 127.0.10.2, … 127.0.10.250, 127.0.11.1, …: loopback only, room for 61,000. */
export function defaultAddressOf(n: number): string {
  const third = 10 + Math.floor((n - 1) / 250);
  if (third > 255) throw new Error(`no loopback address left for instance ${n}`);
  return `127.0.${third}.${1 + ((n - 1) % 250)}`;
}

interface GroupState {
  spec: GroupSpec;
  arn: string;
  desired: number;
  instances: SimInstance[];
  reconcilePending: boolean;
  lastShortfall: number;
}

/** `Origin` and `Destination` of each passage, as the warm pool example events show them. */
const PLACES: Record<Passage, [LifecyclePlace, LifecyclePlace]> = {
  terminate: [PLACE_GROUP, PLACE_EC2],
  'return-to-pool': [PLACE_GROUP, PLACE_WARM_POOL],
  'terminate-from-pool': [PLACE_WARM_POOL, PLACE_EC2],
  launch: [PLACE_EC2, PLACE_GROUP],
  'launch-into-pool': [PLACE_EC2, PLACE_WARM_POOL],
  'leave-pool': [PLACE_WARM_POOL, PLACE_GROUP],
};

/**
 * Where a retaining group keeps an instance whose terminating action was abandoned, by where
 * the action was taking it. AWS, "Manage retained instances" (Amazon EC2 Auto Scaling User
 * Guide, manage-retained-instances.html, "Instance lifecycle states of retained instances"):
 * Terminating → Terminating:Wait → Terminating:Proceed → Terminating:Retained; instances
 * scaling back into the warm pool Warmed:Pending → …:Wait → …:Proceed → Warmed:Pending:Retained;
 * instances terminated from the warm pool Warmed:Terminating → … → Warmed:Terminating:Retained.
 * RetentionTriggers (API_RetentionTriggers.html) has one trigger, TerminateHookAbandon: a
 * launch hook's ABANDON terminates as always.
 */
const RETAINED_STATE: Record<'terminate' | 'return-to-pool' | 'terminate-from-pool', string> = {
  terminate: TERMINATING_RETAINED,
  'return-to-pool': WARMED_PENDING_RETAINED,
  'terminate-from-pool': WARMED_TERMINATING_RETAINED,
};

/** States that count towards the desired capacity (a launch waiting on its hook included). */
const LIVE = new Set(['Pending', PENDING_WAIT, 'InService']);
const isWarm = (state: string) => state.startsWith('Warmed:');

export class Fleet {
  readonly region: string;
  readonly accountId: string;
  readonly terminations: Termination[] = [];
  readonly actions: SimLifecycleAction[] = [];
  readonly couldNotScale: CouldNotScale[] = [];
  readonly retentions: Retention[] = [];
  readonly launchEnds: LaunchEnd[] = [];

  private readonly groups = new Map<string, GroupState>();
  private readonly byId = new Map<string, SimInstance>();
  private readonly byAddress = new Map<string, SimInstance>();
  private readonly byToken = new Map<string, SimLifecycleAction>();
  private readonly eventListeners: Array<(e: LifecycleEvent) => void> = [];
  private seq = 0;
  private readonly tokens: Random;
  private readonly o: Required<Omit<FleetOptions, 'work' | 'readiness'>> &
    Pick<FleetOptions, 'work' | 'readiness'>;

  constructor(options: FleetOptions) {
    this.o = {
      region: 'us-east-1',
      accountId: '123456789012',
      launchSeconds: 60,
      reconcileDelaySeconds: 10,
      shutdownSeconds: 5,
      addressOf: defaultAddressOf,
      ...options,
    };
    this.region = this.o.region;
    this.accountId = this.o.accountId;
    this.tokens = options.random.fork('tokens');
  }

  private get now(): number {
    return this.o.scheduler.now();
  }

  // ---------------------------------------------------------------------------------------
  // Building and driving the world (what operators, health checks and load do).

  /** Create a group with `desired` instances already InService. */
  addGroup(spec: GroupSpec): void {
    if (this.groups.has(spec.name)) throw new Error(`group ${spec.name} exists`);
    const state: GroupState = {
      spec,
      arn: `arn:aws:autoscaling:${this.region}:${this.accountId}:autoScalingGroup:${this.tokens.uuid()}:autoScalingGroupName/${spec.name}`,
      desired: spec.desired,
      instances: [],
      reconcilePending: false,
      lastShortfall: 0,
    };
    this.groups.set(spec.name, state);
    for (let i = 0; i < spec.desired; i++) this.launch(state, true);
    for (let i = 0; i < (spec.warmPool?.size ?? 0); i++) this.launch(state, false, true);
  }

  /** Called for every terminating lifecycle action, with the event EventBridge would carry. */
  onLifecycleEvent(listener: (e: LifecycleEvent) => void): void {
    this.eventListeners.push(listener);
  }

  /** Set the desired capacity (a scaling policy or an operator); scale-in happens at once. */
  setDesiredCapacity(groupName: string, desired: number): void {
    const g = this.mustGroup(groupName);
    const before = g.desired;
    g.desired = Math.max(0, desired);
    g.lastShortfall = 0;
    this.o.journal.add('desired', `${groupName}: desired capacity ${before} → ${g.desired}`, {
      group: groupName,
      data: { before, after: g.desired },
    });
    this.reconcile(g);
  }

  scaleIn(groupName: string, count: number): void {
    const g = this.mustGroup(groupName);
    this.o.journal.add('scale-in', `${groupName}: scale-in by ${count}`, {
      group: groupName,
      data: { count },
    });
    this.setDesiredCapacity(groupName, g.desired - count);
  }

  /** A failed health check: replaced whatever its protection says. */
  markUnhealthy(instanceId: string): void {
    const inst = this.mustInstance(instanceId);
    if (!LIVE.has(inst.lifecycleState)) return;
    inst.healthStatus = 'Unhealthy';
    this.o.journal.add('unhealthy', `${instanceId} failed its health check: replacing it`, {
      group: inst.group,
      instanceId,
      data: { busy: this.isBusy(inst), protected: inst.protectedFromScaleIn },
    });
    this.beginTermination(inst, 'health');
    this.reconcile(this.mustGroup(inst.group));
  }

  /**
   * TerminateInstanceInAutoScalingGroup: ignores protection. With `decrement` the desired
   * capacity drops by one, otherwise a replacement launches.
   */
  terminateInstance(instanceId: string, decrement: boolean): void {
    const inst = this.byId.get(instanceId);
    if (!inst)
      throw validationError(
        `Instance Id not found - No managed instance found for instance ID: ${instanceId}`,
      );
    const retained = inst.lifecycleState === TERMINATING_RETAINED;
    // "This operation cannot be called on instances in a warm pool" (the API reference):
    // Warmed:Pending:Retained and Warmed:Terminating:Retained included.
    if (isWarm(inst.lifecycleState)) {
      throw validationError(
        `The instance ${instanceId} is in ${inst.lifecycleState}: TerminateInstanceInAutoScalingGroup cannot be called on instances in a warm pool.`,
      );
    }
    if (!LIVE.has(inst.lifecycleState) && !retained) {
      throw validationError(
        `The instance ${instanceId} is in ${inst.lifecycleState} and cannot be terminated.`,
      );
    }
    const g = this.mustGroup(inst.group);
    this.o.journal.add(
      'terminate-api',
      `TerminateInstanceInAutoScalingGroup ${instanceId}${decrement ? ' (decrement)' : ''}`,
      {
        group: inst.group,
        instanceId,
        data: { decrement, busy: this.isBusy(inst), protected: inst.protectedFromScaleIn },
      },
    );
    if (decrement) g.desired = Math.max(0, g.desired - 1);
    if (retained) {
      // The documentation names no hook for this step (manage-retained-instances.html lists
      // the states up to Terminating:Retained); the model runs none: the instance goes.
      inst.cause = 'terminate-api';
      this.letGo(inst, undefined, true);
    } else {
      this.beginTermination(inst, 'terminate-api');
    }
    this.reconcile(g);
  }

  /** Does this group retain abandoned instances? */
  retainsOnAbandon(groupName: string): boolean {
    return this.mustGroup(groupName).spec.retainOnAbandon === true;
  }

  /** From now on every probe of this instance is unknown (it crashed, hung or is cut off). */
  stopAnswering(instanceId: string): void {
    const inst = this.mustInstance(instanceId);
    if (!inst.answering) return;
    inst.answering = false;
    this.o.journal.add('stops-answering', `${instanceId} stops answering`, {
      group: inst.group,
      instanceId,
    });
  }

  /**
   * From now on its status endpoint misbehaves (a hostile or broken server): themis cannot
   * learn whether it is busy, so the checker counts it as not answering.
   */
  misbehave(instanceId: string, behaviour: ProbeBehaviour, delayMs?: number): void {
    const inst = this.mustInstance(instanceId);
    inst.answering = false;
    inst.probeBehaviour = behaviour;
    if (delayMs !== undefined) inst.probeDelayMs = delayMs;
    this.o.journal.add(
      'stops-answering',
      `${instanceId}: its status endpoint misbehaves (${behaviour})`,
      {
        group: inst.group,
        instanceId,
        data: { fault: `probe-${behaviour}` },
      },
    );
  }

  /** Tag changes after the start, in order. */
  readonly tagChanges: Array<{
    at: number;
    group: string;
    key: string;
    value?: string;
    previous?: string;
  }> = [];

  /** A group's tag as it was at `atMs`. */
  tagAt(groupName: string, key: string, atMs: number): string | undefined {
    const g = this.mustGroup(groupName);
    const changes = this.tagChanges.filter((c) => c.group === groupName && c.key === key);
    const before = changes.filter((c) => c.at <= atMs).at(-1);
    if (before) return before.value;
    // No change yet at that time: the value before the first change, or the current one.
    const first = changes[0];
    if (first) return first.previous;
    return g.spec.tags?.[key];
  }

  /** An operator sets (or, with undefined, removes) a tag of a group. */
  setTag(groupName: string, key: string, value: string | undefined): void {
    const g = this.mustGroup(groupName);
    this.tagChanges.push({
      at: this.now,
      group: groupName,
      key,
      ...(value !== undefined ? { value } : {}),
      ...(g.spec.tags?.[key] !== undefined ? { previous: g.spec.tags[key] } : {}),
    });
    const tags = { ...g.spec.tags };
    if (value === undefined) delete tags[key];
    else tags[key] = value;
    g.spec = { ...g.spec, tags };
    this.o.journal.add(
      'setting',
      `${groupName}: tag ${key}${value === undefined ? ' removed' : `=${value}`}`,
      {
        group: groupName,
        data: { fault: 'tag-changed', key, value },
      },
    );
  }

  /**
   * CreateOrUpdateTags / DeleteTags (undefined) by an API caller (themis's launch gate): the
   * tag changes, journalled, but it is not an operator's setting change.
   */
  writeTag(groupName: string, key: string, value: string | undefined): void {
    const g = this.groups.get(groupName);
    if (!g) throw validationError(`AutoScalingGroup name not found - ${groupName}`);
    const tags = { ...g.spec.tags };
    if (value === undefined) delete tags[key];
    else tags[key] = value;
    g.spec = { ...g.spec, tags };
    this.o.journal.add(
      'setting',
      `${groupName}: tag ${key}${value === undefined ? ' deleted' : `=${value}`}`,
      {
        group: groupName,
        data: { key, value },
      },
    );
  }

  /**
   * DeleteLifecycleHook: Auto Scaling completes every outstanding action of the hook
   * (CONTINUE for a terminating instance); later instances go at once.
   */
  deleteHook(groupName: string): void {
    const g = this.mustGroup(groupName);
    const hook = g.spec.hook;
    if (!hook) return;
    g.spec = {
      name: g.spec.name,
      desired: g.spec.desired,
      ...(g.spec.tags ? { tags: g.spec.tags } : {}),
    };
    this.o.journal.add('setting', `${groupName}: lifecycle hook ${hook.name} deleted`, {
      group: groupName,
      data: { fault: 'hook-deleted' },
    });
    for (const action of this.actions) {
      if (!action.ended && action.group === groupName)
        this.endAction(action, 'hook-deleted', 'CONTINUE', hook);
    }
  }

  setWork(instanceId: string, work: WorkSchedule): void {
    this.mustInstance(instanceId).work = work;
  }

  // ---------------------------------------------------------------------------------------
  // Reading the world.

  instance(instanceId: string): SimInstance | undefined {
    return this.byId.get(instanceId);
  }

  instanceAt(address: string): SimInstance | undefined {
    return this.byAddress.get(address);
  }

  instances(groupName?: string): SimInstance[] {
    if (groupName) return [...this.mustGroup(groupName).instances];
    return [...this.byId.values()];
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  desiredCapacity(groupName: string): number {
    return this.mustGroup(groupName).desired;
  }

  /** MinSize and MaxSize. */
  limitsOf(groupName: string): { minSize: number; maxSize: number } {
    const spec = this.mustGroup(groupName).spec;
    return { minSize: spec.minSize ?? 0, maxSize: spec.maxSize ?? 100 };
  }

  tagsOf(groupName: string): Record<string, string> {
    return { ...this.mustGroup(groupName).spec.tags };
  }

  hookOf(groupName: string): HookSpec | undefined {
    return this.mustGroup(groupName).spec.hook;
  }

  /** Would this instance answer BUSY now? (A silent instance answers nothing.) */
  isBusy(inst: SimInstance, at = this.now): boolean {
    return this.isUp(inst, at) && inst.work.isBusy(at);
  }

  /**
   * Its worker answers: it has come up (readiness), runs (not stopped or hibernated in the
   * warm pool, not terminated) and has not stopped answering.
   */
  isUp(inst: SimInstance, at = this.now): boolean {
    return (
      inst.answering &&
      at >= inst.readyAt &&
      inst.lifecycleState !== 'Terminated' &&
      !this.resting(inst)
    );
  }

  private resting(inst: SimInstance): boolean {
    const g = this.groups.get(inst.group);
    const state = WARM_POOL_RESTING_STATE[g?.spec.warmPool?.poolState ?? 'Stopped'];
    // A running pool instance (PoolState Running) keeps its worker up.
    return inst.lifecycleState === state && state !== WARM_POOL_RESTING_STATE.Running;
  }

  /** The body a worker on this instance answers now, or undefined if it does not answer. */
  answer(instanceId: string): 'BUSY' | 'IDLE' | undefined {
    const inst = this.byId.get(instanceId);
    if (!inst || !this.isUp(inst)) return undefined;
    return inst.work.isBusy(this.now) ? 'BUSY' : 'IDLE';
  }

  activeActions(): SimLifecycleAction[] {
    return this.actions.filter((a) => !a.ended);
  }

  // ---------------------------------------------------------------------------------------
  // The API, as the ports use it. Each method is one Auto Scaling / EC2 operation.

  /** DescribeAutoScalingGroups by name; unknown names are absent. */
  describeGroups(names: readonly string[]): GroupSnapshot[] {
    const out: GroupSnapshot[] = [];
    for (const name of new Set(names)) {
      const g = this.groups.get(name);
      if (g) out.push(this.snapshot(g));
    }
    return out;
  }

  /** DescribeAutoScalingGroups with a tag filter. */
  findGroupsByTag(key: string, value: string): GroupSnapshot[] {
    return [...this.groups.values()]
      .filter((g) => g.spec.tags?.[key] === value)
      .map((g) => this.snapshot(g));
  }

  /** DescribeInstances: private IPs of instances that still exist. */
  privateAddresses(instanceIds: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of instanceIds) {
      const inst = this.byId.get(id);
      if (inst && inst.lifecycleState !== 'Terminated') out.set(id, inst.address);
    }
    return out;
  }

  setInstanceProtection(groupName: string, instanceIds: readonly string[], protect: boolean): void {
    if (instanceIds.length > MAX_PROTECTION_BATCH) {
      throw validationError(
        `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PROTECTION_BATCH}`,
      );
    }
    const g = this.groups.get(groupName);
    if (!g) throw validationError(`AutoScalingGroup name not found - null`);
    const targets: SimInstance[] = [];
    // Checked before anything changes: the call is all or nothing.
    for (const id of instanceIds) {
      const inst = this.byId.get(id);
      if (!inst || inst.group !== groupName || inst.lifecycleState === 'Terminated') {
        throw validationError(`The instance ${id} is not part of Auto Scaling group ${groupName}.`);
      }
      if (inst.lifecycleState !== 'InService') {
        throw validationError(
          `The instance ${id} is not in InService or EnteringStandby or Standby.`,
        );
      }
      targets.push(inst);
    }
    for (const inst of targets) inst.protectedFromScaleIn = protect;
    this.o.journal.add(
      'protection',
      `${protect ? 'protect' : 'unprotect'} ${instanceIds.join(', ')}`,
      { group: groupName, data: { instanceIds: [...instanceIds], protect } },
    );
    if (!protect && targets.length > 0) this.scheduleReconcile(g);
  }

  recordLifecycleActionHeartbeat(ref: LifecycleActionRef): void {
    const action = this.activeAction(ref);
    action.heartbeats++;
    action.heartbeatTimes.push(this.now);
    action.heartbeatDeadlineMs =
      this.now + this.hookOfAction(action).heartbeatTimeoutSeconds * 1000;
    this.armHeartbeatTimeout(action);
    this.o.journal.add('heartbeat', `${action.instanceId}: heartbeat #${action.heartbeats}`, {
      group: action.group,
      instanceId: action.instanceId,
      data: { heartbeats: action.heartbeats },
    });
  }

  /** Ends the action (the one returned) with `result`. */
  completeLifecycleAction(ref: LifecycleActionRef, result: LifecycleResult): SimLifecycleAction {
    if (result !== 'CONTINUE' && result !== 'ABANDON') {
      throw validationError(`Invalid LifecycleActionResult: ${String(result)}`);
    }
    const action = this.activeAction(ref);
    this.endAction(action, 'completed', result, this.hookOfAction(action));
    return action;
  }

  /** DescribeLifecycleHooks for one hook; ValidationError when the group does not exist. */
  describeLifecycleHook(groupName: string, hookName: string): HookInfo | undefined {
    const g = this.groups.get(groupName);
    if (!g) throw validationError(`Group ${groupName} not found`);
    const launch = g.spec.launchHook?.name === hookName;
    const hook = launch ? g.spec.launchHook : g.spec.hook;
    if (!hook || hook.name !== hookName) return undefined;
    return {
      hookName: hook.name,
      groupName,
      transition: launch ? LAUNCHING : TERMINATING,
      heartbeatTimeoutSeconds: hook.heartbeatTimeoutSeconds,
      globalTimeoutSeconds: documentedGlobalTimeoutSeconds(hook.heartbeatTimeoutSeconds),
      defaultResult: hook.defaultResult,
      ...(hook.notificationMetadata !== undefined
        ? { notificationMetadata: hook.notificationMetadata }
        : {}),
    };
  }

  // ---------------------------------------------------------------------------------------
  // The model.

  private snapshot(g: GroupState): GroupSnapshot {
    return {
      name: g.spec.name,
      arn: g.arn,
      // Warm pool instances are not members (DescribeWarmPool lists them).
      instances: g.instances
        .filter((i) => i.lifecycleState !== 'Terminated' && !isWarm(i.lifecycleState))
        .map((i) => ({
          instanceId: i.id,
          availabilityZone: `${this.region}${'abc'[i.seq % 3]}`,
          lifecycleState: i.lifecycleState,
          healthStatus: i.healthStatus,
          protectedFromScaleIn: i.protectedFromScaleIn,
        })),
      tags: { ...g.spec.tags },
      ...(g.spec.retainOnAbandon ? { retainsOnAbandon: true } : {}),
    };
  }

  /** A new instance: into service (at once, or Pending, or Pending:Wait), or into the warm pool. */
  private launch(g: GroupState, atOnce: boolean, intoPool = false): SimInstance {
    const seq = ++this.seq;
    const id = `i-${seq.toString(16).padStart(17, '0')}`;
    const address = this.o.addressOf(seq);
    // The loopback rule: a simulated instance must never send a probe off this machine.
    if (!isLoopbackAddress(address)) {
      throw new Error(`simulated instance address ${address} is not in 127.0.0.0/8`);
    }
    if (this.byAddress.has(address)) throw new Error(`address ${address} is already in use`);
    const launchedAt = this.now;
    const inst: SimInstance = {
      id,
      group: g.spec.name,
      address,
      seq,
      launchedAt,
      lifecycleState: atOnce || this.o.launchSeconds <= 0 ? 'InService' : 'Pending',
      protectedFromScaleIn: false,
      healthStatus: 'Healthy',
      answering: true,
      work:
        this.o.work?.({
          instanceId: id,
          group: g.spec.name,
          launchedAt,
          random: this.o.random.fork(`work:${id}`),
        }) ?? WorkSchedule.idle(),
      readyAt: launchedAt + this.readinessMs(id, g, launchedAt),
    };
    const launchHook = atOnce ? undefined : g.spec.launchHook;
    if (intoPool) inst.lifecycleState = launchHook ? WARMED_PENDING_WAIT : this.restingState(g);
    else if (launchHook) inst.lifecycleState = PENDING_WAIT;
    g.instances.push(inst);
    this.byId.set(id, inst);
    this.byAddress.set(address, inst);
    this.o.journal.add('launch', `${id} launched at ${address}`, {
      group: g.spec.name,
      instanceId: id,
      data: { address, state: inst.lifecycleState },
    });
    if (launchHook) {
      this.startAction(inst, g, launchHook, {
        transition: LAUNCHING,
        passage: intoPool ? 'launch-into-pool' : 'launch',
        cause: 'scale-in',
      });
    }
    if (inst.lifecycleState === 'Pending') {
      this.o.scheduler.after(this.o.launchSeconds * 1000, `in-service ${id}`, () => {
        if (inst.lifecycleState !== 'Pending') return;
        inst.lifecycleState = 'InService';
        this.o.journal.add('in-service', `${id} InService`, { group: g.spec.name, instanceId: id });
        this.scheduleReconcile(g);
      });
    }
    return inst;
  }

  private readinessMs(id: string, g: GroupState, fromMs: number): number {
    const seconds =
      this.o.readiness?.({
        instanceId: id,
        group: g.spec.name,
        launchedAt: fromMs,
        random: this.o.random.fork(`ready:${id}:${fromMs}`),
      }) ?? 0;
    return seconds * 1000;
  }

  private restingState(g: GroupState): string {
    return WARM_POOL_RESTING_STATE[g.spec.warmPool?.poolState ?? 'Stopped'];
  }

  /** Scale-out from the warm pool: the instance restarts (WarmPool → AutoScalingGroup). */
  private leavePool(g: GroupState, inst: SimInstance): void {
    inst.readyAt = this.now + this.readinessMs(inst.id, g, this.now);
    const hook = g.spec.launchHook;
    inst.lifecycleState = hook ? PENDING_WAIT : 'InService';
    this.o.journal.add('launch', `${inst.id} leaves the warm pool → ${inst.lifecycleState}`, {
      group: g.spec.name,
      instanceId: inst.id,
      data: { state: inst.lifecycleState },
    });
    if (hook)
      this.startAction(inst, g, hook, {
        transition: LAUNCHING,
        passage: 'leave-pool',
        cause: 'scale-in',
      });
  }

  private scheduleReconcile(g: GroupState): void {
    if (g.reconcilePending) return;
    g.reconcilePending = true;
    this.o.scheduler.after(this.o.reconcileDelaySeconds * 1000, `reconcile ${g.spec.name}`, () => {
      g.reconcilePending = false;
      this.reconcile(g);
    });
  }

  private reconcile(g: GroupState): void {
    const live = g.instances.filter((i) => LIVE.has(i.lifecycleState));
    if (live.length < g.desired) {
      const pool = g.instances.filter((i) => i.lifecycleState === this.restingState(g));
      for (let n = live.length; n < g.desired; n++) {
        const warm = pool.shift();
        if (warm) this.leavePool(g, warm);
        else this.launch(g, false);
      }
      g.lastShortfall = 0;
      return;
    }
    const excess = live.length - g.desired;
    if (excess === 0) {
      g.lastShortfall = 0;
      return;
    }
    const candidates = live
      .filter((i) => i.lifecycleState === 'InService' && !i.protectedFromScaleIn)
      .sort((a, b) => a.launchedAt - b.launchedAt || a.seq - b.seq);
    const chosen = candidates.slice(0, excess);
    for (const inst of chosen) this.beginTermination(inst, 'scale-in');
    const shortfall = excess - chosen.length;
    if (shortfall > 0 && shortfall !== g.lastShortfall) {
      this.couldNotScale.push({ group: g.spec.name, at: this.now, shortfall });
      this.o.journal.add(
        'could-not-scale',
        `${g.spec.name}: could not scale in ${shortfall} instance${shortfall === 1 ? '' : 's'}: all remaining are protected`,
        { group: g.spec.name, data: { shortfall } },
      );
    }
    g.lastShortfall = shortfall;
  }

  private beginTermination(inst: SimInstance, cause: TerminationCause): void {
    const g = this.mustGroup(inst.group);
    inst.cause = cause;
    const hook = g.spec.hook;
    const busy = this.isBusy(inst);
    // ReuseOnScaleIn: a scale-in returns the instance to the warm pool instead.
    const toPool = cause === 'scale-in' && g.spec.warmPool?.reuseOnScaleIn === true;
    if (!hook) {
      inst.lifecycleState = toPool ? WARMED_PENDING_WAIT : 'Terminating';
      this.o.journal.add(
        'terminating',
        `${inst.id} ${toPool ? 'returning to the warm pool' : 'terminating'} (${cause}, no hook)`,
        {
          group: inst.group,
          instanceId: inst.id,
          data: { cause, busy, protected: inst.protectedFromScaleIn },
        },
      );
      this.letGo(inst, undefined, false, toPool ? 'return-to-pool' : undefined);
      return;
    }
    this.startAction(inst, g, hook, {
      transition: TERMINATING,
      cause,
      ...(toPool ? { passage: 'return-to-pool' as const } : {}),
    });
  }

  /** A lifecycle action: the wait state, its timers and the event EventBridge carries. */
  private startAction(
    inst: SimInstance,
    g: GroupState,
    hook: HookSpec,
    what: { transition: string; cause: TerminationCause; passage?: Passage },
  ): void {
    const now = this.now;
    const busy = this.isBusy(inst);
    const action: SimLifecycleAction = {
      token: this.tokens.uuid(),
      instanceId: inst.id,
      group: inst.group,
      hookName: hook.name,
      cause: what.cause,
      startedAt: now,
      heartbeatDeadlineMs: now + hook.heartbeatTimeoutSeconds * 1000,
      heartbeatTimeoutSeconds: hook.heartbeatTimeoutSeconds,
      defaultResult: hook.defaultResult,
      globalDeadlineMs: now + documentedGlobalTimeoutSeconds(hook.heartbeatTimeoutSeconds) * 1000,
      heartbeats: 0,
      heartbeatTimes: [],
      busyAtStart: busy,
      protectedAtStart: inst.protectedFromScaleIn,
      tagsAtStart: { ...g.spec.tags },
      ...(what.transition !== TERMINATING ? { transition: what.transition } : {}),
      ...(what.passage ? { passage: what.passage } : {}),
    };
    if (what.transition === TERMINATING) {
      inst.lifecycleState =
        what.passage === 'return-to-pool' ? WARMED_PENDING_WAIT : 'Terminating:Wait';
    }
    inst.action = action;
    this.actions.push(action);
    this.byToken.set(action.token, action);
    this.o.journal.add(
      what.transition === TERMINATING ? 'terminating' : 'launch',
      `${inst.id} → ${inst.lifecycleState} (${what.passage ?? what.cause})`,
      {
        group: inst.group,
        instanceId: inst.id,
        data: { cause: what.cause, busy, protected: inst.protectedFromScaleIn },
      },
    );
    this.armHeartbeatTimeout(action);
    this.o.scheduler.at(action.globalDeadlineMs, `global timeout ${inst.id}`, () => {
      if (!action.ended) this.endAction(action, 'global-timeout', hook.defaultResult, hook);
    });
    const event = this.lifecycleEvent(action, g, hook);
    for (const listener of this.eventListeners) listener(event);
  }

  private armHeartbeatTimeout(action: SimLifecycleAction): void {
    const deadline = action.heartbeatDeadlineMs;
    this.o.scheduler.at(deadline, `heartbeat timeout ${action.instanceId}`, () => {
      // A later heartbeat moved the deadline: this check is stale.
      if (action.ended || action.heartbeatDeadlineMs !== deadline) return;
      const hook = this.hookOfAction(action);
      this.endAction(action, 'heartbeat-timeout', hook.defaultResult, hook);
    });
  }

  private endAction(
    action: SimLifecycleAction,
    by: ActionEnd,
    result: LifecycleResult,
    hook: HookSpec,
  ): void {
    action.ended = {
      at: this.now,
      by,
      result,
      heartbeatTimeoutSeconds: hook.heartbeatTimeoutSeconds,
    };
    const inst = this.mustInstance(action.instanceId);
    this.o.journal.add(
      'action-ended',
      `${inst.id}: lifecycle action ${by === 'completed' ? `completed with ${result}` : `${by} → ${result}`}`,
      { group: inst.group, instanceId: inst.id, data: { by, result } },
    );
    if (action.transition === LAUNCHING) {
      this.endLaunch(inst, action, result);
      return;
    }
    // Deleting the hook ends its actions with CONTINUE; every other ABANDON may retain.
    if (result === 'ABANDON' && by !== 'hook-deleted' && this.retainsOnAbandon(inst.group)) {
      this.retain(inst, action);
      return;
    }
    this.letGo(inst, action, false, action.passage);
  }

  /** CONTINUE: in service (or resting in the warm pool); ABANDON: terminated, and replaced. */
  private endLaunch(inst: SimInstance, action: SimLifecycleAction, result: LifecycleResult): void {
    const g = this.mustGroup(inst.group);
    this.launchEnds.push({
      instanceId: inst.id,
      group: inst.group,
      at: this.now,
      action,
      ready: this.isUp(inst),
    });
    if (result === 'CONTINUE') {
      inst.lifecycleState =
        action.passage === 'launch-into-pool' ? this.restingState(g) : 'InService';
      this.o.journal.add('in-service', `${inst.id} ${inst.lifecycleState}`, {
        group: inst.group,
        instanceId: inst.id,
      });
    } else {
      inst.lifecycleState = 'Terminating:Proceed';
      this.o.journal.add('terminated', `${inst.id} terminated: its launch was abandoned`, {
        group: inst.group,
        instanceId: inst.id,
        data: { cause: 'launch-abandoned' },
      });
      this.o.scheduler.after(this.o.shutdownSeconds * 1000, `shutdown ${inst.id}`, () => {
        inst.lifecycleState = 'Terminated';
      });
    }
    this.scheduleReconcile(g);
  }

  /**
   * Kept running in its passage's Retained state (RETAINED_STATE); outside the desired
   * capacity, so it is replaced. A warm-pool one is not a member either (DescribeWarmPool
   * lists it) and TerminateInstanceInAutoScalingGroup refuses it.
   */
  private retain(inst: SimInstance, action: SimLifecycleAction): void {
    const busy = this.isBusy(inst);
    const passage = action.passage ?? 'terminate';
    if (
      passage !== 'terminate' &&
      passage !== 'return-to-pool' &&
      passage !== 'terminate-from-pool'
    )
      throw new Error(`a ${passage} action is never retained`);
    const state = RETAINED_STATE[passage];
    inst.lifecycleState = state;
    this.retentions.push({
      instanceId: inst.id,
      group: inst.group,
      at: this.now,
      state,
      busy,
      action,
    });
    this.o.journal.add('retained', `${inst.id} → ${state}${busy ? ' (busy)' : ''}`, {
      group: inst.group,
      instanceId: inst.id,
      data: { busy, state },
    });
    this.scheduleReconcile(this.mustGroup(inst.group));
  }

  /** The instance leaves: record whether it was busy at this moment, then it is gone. */
  private letGo(
    inst: SimInstance,
    action: SimLifecycleAction | undefined,
    fromRetained = false,
    passage?: Passage,
  ): void {
    const busy = this.isBusy(inst);
    const toPool = passage === 'return-to-pool';
    inst.lifecycleState = toPool
      ? this.restingState(this.mustGroup(inst.group))
      : 'Terminating:Proceed';
    const termination: Termination = {
      instanceId: inst.id,
      group: inst.group,
      at: this.now,
      cause: inst.cause ?? 'scale-in',
      busy,
      answering: inst.answering,
      ...(action ? { action } : {}),
      ...(fromRetained ? { fromRetained } : {}),
      ...(toPool ? { passage } : {}),
    };
    this.terminations.push(termination);
    const was = busy ? 'WHILE BUSY' : inst.answering ? '(was idle)' : '(was not answering)';
    this.o.journal.add(
      'terminated',
      `${inst.id} ${toPool ? `returned to the warm pool (${inst.lifecycleState})` : 'terminated'} ${was}`,
      { group: inst.group, instanceId: inst.id, data: { busy, cause: termination.cause } },
    );
    if (!toPool) {
      this.o.scheduler.after(this.o.shutdownSeconds * 1000, `shutdown ${inst.id}`, () => {
        inst.lifecycleState = 'Terminated';
      });
    }
    this.scheduleReconcile(this.mustGroup(inst.group));
  }

  private activeAction(ref: LifecycleActionRef): SimLifecycleAction {
    const gone = () =>
      validationError(`No active Lifecycle Action found with instance ID ${ref.instanceId}`);
    let action: SimLifecycleAction | undefined;
    if (ref.token) action = this.byToken.get(ref.token);
    else if (ref.instanceId) action = this.byId.get(ref.instanceId)?.action;
    else throw validationError('Either LifecycleActionToken or InstanceId must be given');
    if (!action || action.ended) throw gone();
    if (action.group !== ref.groupName || action.hookName !== ref.hookName) throw gone();
    if (ref.token && ref.instanceId && action.instanceId !== ref.instanceId) throw gone();
    return action;
  }

  private hookOfAction(action: SimLifecycleAction): HookSpec {
    const spec = this.mustGroup(action.group).spec;
    const hook = action.transition === LAUNCHING ? spec.launchHook : spec.hook;
    // Deleting the hook ended its actions; an ended action keeps the hook it had.
    return (
      hook ?? {
        name: action.hookName,
        heartbeatTimeoutSeconds: action.heartbeatTimeoutSeconds,
        defaultResult: action.defaultResult,
      }
    );
  }

  private lifecycleEvent(
    action: SimLifecycleAction,
    g: GroupState,
    hook: HookSpec,
  ): LifecycleEvent {
    return {
      version: '0',
      id: this.tokens.uuid(),
      'detail-type': action.transition === LAUNCHING ? LAUNCH_DETAIL_TYPE : TERMINATE_DETAIL_TYPE,
      source: 'aws.autoscaling',
      account: this.accountId,
      // EventBridge times have whole seconds.
      time: new Date(Math.floor(this.now / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
      region: this.region,
      resources: [g.arn],
      detail: {
        Origin: PLACES[action.passage ?? 'terminate'][0],
        Destination: PLACES[action.passage ?? 'terminate'][1],
        LifecycleActionToken: action.token,
        AutoScalingGroupName: g.spec.name,
        LifecycleHookName: hook.name,
        EC2InstanceId: action.instanceId,
        LifecycleTransition: action.transition === LAUNCHING ? LAUNCHING : TERMINATING,
        ...(hook.notificationMetadata !== undefined
          ? { NotificationMetadata: hook.notificationMetadata }
          : {}),
      },
    };
  }

  private mustGroup(name: string): GroupState {
    const g = this.groups.get(name);
    if (!g) throw new Error(`no simulated group ${name}`);
    return g;
  }

  private mustInstance(id: string): SimInstance {
    const inst = this.byId.get(id);
    if (!inst) throw new Error(`no simulated instance ${id}`);
    return inst;
  }
}
