/**
 * The roles AWS and HTTP play for themis. Each has one SDK-backed adapter (lib/aws/*), and
 * the fleet simulator (sim/*) and tests implement the same interfaces. Each holds only
 * the calls themis makes. Adapters wrap SDK failures in UpstreamError with the original
 * error as `cause` (so `awsErrorName(err)` still gives e.g. 'ValidationError').
 *
 * Every call takes optional CallOptions: its `signal` aborts the call at the caller's deadline
 * (lib/time.ts). Callers do not rely on it alone — they race each call against their own
 * deadline — but an adapter that honours it stops its work (and its retries) too.
 */
import type { CallOptions } from './time.js';

export type { CallOptions };

/** One member of an Auto Scaling group, as DescribeAutoScalingGroups reports it. */
export interface GroupInstance {
  instanceId: string;
  availabilityZone?: string;
  /** 'Pending' | 'InService' | 'Terminating' | 'Terminating:Wait' | 'Standby' | … */
  lifecycleState: string;
  healthStatus?: string;
  protectedFromScaleIn: boolean;
}

export interface GroupSnapshot {
  name: string;
  /** ARN of the group when known (IAM scoping, logs). */
  arn?: string;
  instances: GroupInstance[];
  /** Tag key → value. */
  tags: Record<string, string>;
  /**
   * The group's instance lifecycle policy keeps an instance whose terminate lifecycle action
   * is abandoned (InstanceLifecyclePolicy.RetentionTriggers.TerminateHookAbandon = retain):
   * ABANDON then leaves it running in Terminating:Retained. Absent = no (the API's default).
   */
  retainsOnAbandon?: boolean;
}

/** Groups and their members (autoscaling:DescribeAutoScalingGroups, paginated). */
export interface GroupDirectory {
  /** Groups that do not exist are absent from the answer, not an error. */
  describeGroups(names: string[], opts?: CallOptions): Promise<GroupSnapshot[]>;
  /** Every group in the region carrying tag `key` = `value` (a filter on the API call). */
  findGroupsByTag(key: string, value: string, opts?: CallOptions): Promise<GroupSnapshot[]>;
}

/**
 * One tag of a group, written (autoscaling:CreateOrUpdateTags, or DeleteTags when `value` is
 * undefined); never propagated to instances.
 */
export interface GroupTagWriter {
  setTag(
    groupName: string,
    key: string,
    value: string | undefined,
    opts?: CallOptions,
  ): Promise<void>;
}

/** Where to reach an instance (ec2:DescribeInstances, batched and paginated). */
export interface InstanceAddresses {
  /** Instance id → private IPv4 address; unknown or address-less instances are absent. */
  privateAddresses(instanceIds: string[], opts?: CallOptions): Promise<Map<string, string>>;
}

/**
 * Scale-in protection (autoscaling:SetInstanceProtection): one API call, at most
 * MAX_PROTECTION_BATCH ids. Throws (an error whose name is 'ValidationError') when Auto
 * Scaling rejects the request, e.g. an instance is no longer InService; batching and the
 * one-by-one fallback live in lib/protect, above this port.
 */
export interface InstanceProtection {
  setInstanceProtection(
    groupName: string,
    instanceIds: string[],
    protect: boolean,
    opts?: CallOptions,
  ): Promise<void>;
}

export { MAX_PROTECTION_BATCH } from './aws/facts.js';

/**
 * Ending a retained instance (autoscaling:TerminateInstanceInAutoScalingGroup with
 * ShouldDecrementDesiredCapacity=false: a retained instance no longer counts toward the
 * desired capacity, so there is nothing to decrement). Throws (an error whose name is
 * 'ValidationError') when Auto Scaling refuses, e.g. the instance is no longer in the group.
 */
export interface RetainedInstances {
  terminateRetained(instanceId: string, opts?: CallOptions): Promise<void>;
}

/** Identifies one lifecycle action of one instance. */
export interface LifecycleActionRef {
  groupName: string;
  hookName: string;
  instanceId: string;
  /** The LifecycleActionToken; optional in the API (instance id identifies it too). */
  token?: string;
}

export type LifecycleResult = 'CONTINUE' | 'ABANDON';

export interface HookInfo {
  hookName: string;
  groupName: string;
  transition: string;
  heartbeatTimeoutSeconds: number;
  /** min(48 h, 100 × HeartbeatTimeout), as DescribeLifecycleHooks reports it. */
  globalTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
}

/**
 * Lifecycle actions (autoscaling:RecordLifecycleActionHeartbeat, CompleteLifecycleAction,
 * DescribeLifecycleHooks). 'gone' = Auto Scaling answered "No active Lifecycle Action
 * found": someone already finished the action or it timed out. Every other failure throws.
 */
export interface LifecycleActions {
  recordHeartbeat(action: LifecycleActionRef, opts?: CallOptions): Promise<'recorded' | 'gone'>;
  complete(
    action: LifecycleActionRef,
    result: LifecycleResult,
    opts?: CallOptions,
  ): Promise<'completed' | 'gone'>;
  /** undefined when the hook does not exist (any more). */
  describeHook(
    groupName: string,
    hookName: string,
    opts?: CallOptions,
  ): Promise<HookInfo | undefined>;
}

/** One Auto Scaling activity, as DescribeScalingActivities reports it. */
export interface ScalingActivity {
  /** e.g. "Terminating EC2 instance: i-0123456789abcdef0". */
  description: string;
  /** 'MidLifecycleAction' | 'InProgress' | 'Successful' | … */
  statusCode: string;
  /** Epoch milliseconds. */
  startTimeMs?: number;
}

/**
 * What an operator needs to see about instances held by lifecycle hooks
 * (autoscaling:DescribeLifecycleHooks, DescribeScalingActivities, DescribeWarmPool).
 * Read-only: releasing goes through LifecycleActions.complete.
 */
export interface LifecycleHolds {
  /** Every hook of the group; [] when it has none. */
  listHooks(groupName: string, opts?: CallOptions): Promise<HookInfo[]>;
  /** The group's most recent activities, newest first, at most `maxCount`. */
  recentActivities(
    groupName: string,
    maxCount: number,
    opts?: CallOptions,
  ): Promise<ScalingActivity[]>;
  /** Instances in the group's warm pool (Warmed:*); [] when it has none. */
  warmPoolInstances(groupName: string, opts?: CallOptions): Promise<GroupInstance[]>;
}

/**
 * A worker group's work queue (sqs:GetQueueAttributes ApproximateNumberOfMessages): the
 * messages visible (waiting), approximate as SQS says.
 */
export interface QueueBacklog {
  visibleMessages(queueUrl: string, opts?: CallOptions): Promise<number>;
}

/** An outcome for operators (sns:Publish). */
export interface Notice {
  /** ≤ 100 characters (SNS e-mail subject limit). */
  subject: string;
  message: string;
  /** Message attributes for subscription filter policies, e.g. { event, group }. */
  attributes: Record<string, string>;
}

export interface Notifications {
  publish(notice: Notice, opts?: CallOptions): Promise<void>;
}

/** The gate's delayed self-messages (sqs:SendMessage with DelaySeconds ≤ 900). */
export interface Rechecks {
  schedule(body: string, delaySeconds: number, opts?: CallOptions): Promise<void>;
}

export type CommandState = 'pending' | 'success' | 'failed';

/** A pre-termination command run through SSM Run Command. */
export interface RemoteCommands {
  /** ssm:DescribeDocument; false when the document does not exist. */
  documentExists(documentName: string, opts?: CallOptions): Promise<boolean>;
  /** ssm:DescribeInstanceInformation; true when the instance is managed and online. */
  isManaged(instanceId: string, opts?: CallOptions): Promise<boolean>;
  /** ssm:SendCommand; returns the command id. */
  send(
    instanceId: string,
    documentName: string,
    parameters: Record<string, string[]>,
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<string>;
  /** ssm:GetCommandInvocation, mapped to three states; `detail` says why it failed. */
  status(
    commandId: string,
    instanceId: string,
    opts?: CallOptions,
  ): Promise<{ state: CommandState; detail?: string }>;
  /**
   * ssm:CancelCommand for this instance's invocation. A command that has already finished
   * cannot be cancelled; that is not an error.
   */
  cancel(commandId: string, instanceId: string, opts?: CallOptions): Promise<void>;
}

/** The classification of one HTTP probe. */
export type ProbeStatus = 'busy' | 'idle' | 'unknown';

export interface ProbeResult {
  status: ProbeStatus;
  /** Why the answer is unknown (timeout, refused, HTTP 500, body "…", oversize, …). */
  reason?: string;
  latencyMs: number;
  /**
   * unknown because an AWS API failed for a while (ECS mode: throttling, a 5xx, a timeout —
   * not a refusal such as AccessDenied), not because the instance did not answer:
   * it says nothing about the instance, so the gate holds without counting it towards the
   * unknown limit (lib/gate/decide.ts); its deadline still ends the hold.
   */
  apiFailure?: boolean;
  /**
   * unknown because the gate cannot ask at all: a refusal that will come back on every step
   * (ECS mode: AccessDenied, ClusterNotFound, a rejected request; no ECS client). It says
   * nothing about the instance. The launch gate lets a launch in after `unknownLimit` such
   * steps in a row, with a warning, rather than abandon every launch of the group.
   */
  setupFailure?: boolean;
}

/** What a probe needs to know to ask one instance. */
export interface ProbeSettings {
  metricsPort: number;
  /** Normalised: starts with exactly one '/'. */
  busyURL: string;
  busyValue: string;
  idleValue: string;
  timeoutMs: number;
}

/** Asks instances whether they are busy (HTTP GET, see lib/probe.ts). */
export interface Prober {
  probe(address: string, settings: ProbeSettings, opts?: CallOptions): Promise<ProbeResult>;
}

/** The AWS side of a protect scan (and the CLI), for one region. */
export interface RegionalPorts {
  groups: GroupDirectory;
  addresses: InstanceAddresses;
  protection: InstanceProtection;
  /** For groups in ECS mode. */
  ecs?: EcsClusterState;
  /** For groups that name a work queue (backlog metrics). */
  backlog?: QueueBacklog;
  /** Terminating retained instances once they are idle (lib/protect/retained.ts). */
  retained?: RetainedInstances;
}

/** The part of the Lambda context themis uses (both handlers). */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
  /** Carried on every log line of the invocation (lib/log.ts forInvocation). */
  awsRequestId?: string;
}

/** Milliseconds since the epoch; injected so decisions can run on a virtual clock. */
export type Clock = () => number;

/** The structured logger shape themis uses (Powertools Logger satisfies it). */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

// ---------------------------------------------------------------------------------------
// ECS on EC2 (lib/aws/ecs.ts). Only the calls themis makes; every limit in lib/aws/ecs.ts.

/** CPU units and memory (MiB), as ECS counts a container instance's resources. */
export interface EcsResources {
  cpu: number;
  memoryMb: number;
}

/** A container instance, as DescribeContainerInstances reports it. */
export interface ContainerInstance {
  arn: string;
  /** The EC2 instance it runs on; absent for external instances. */
  ec2InstanceId?: string;
  /** 'ACTIVE' | 'DRAINING' | 'REGISTERING' | 'DEREGISTERING' | 'REGISTRATION_FAILED' | … */
  status: string;
  agentConnected: boolean;
  registered: EcsResources;
  /** Not reserved by tasks. */
  remaining: EcsResources;
  runningTasksCount: number;
  pendingTasksCount: number;
}

/** A task, as DescribeTasks reports it. */
export interface EcsTask {
  arn: string;
  /** 'service:<name>' for a service's tasks, 'family:<name>' for RunTask's by default. */
  group?: string;
  /** 'PROVISIONING' | 'PENDING' | 'ACTIVATING' | 'RUNNING' | … | 'STOPPED' */
  lastStatus: string;
  desiredStatus: string;
  containerInstanceArn?: string;
  taskDefinitionArn?: string;
  /** When it stopped (epoch ms), once it has. */
  stoppedAtMs?: number;
  /** The task-level reservation, when the task (definition) sets one. */
  cpu?: number;
  memoryMb?: number;
}

/** A service, as DescribeServices reports it. */
export interface EcsService {
  name: string;
  arn: string;
  /** 'REPLICA' | 'DAEMON' */
  schedulingStrategy: string;
  status: string;
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  taskDefinition?: string;
}

/** What one copy of a task definition reserves (its own cpu/memory, else its containers' sum). */
export interface TaskReservation extends EcsResources {
  taskDefinitionArn: string;
}

/** What themis reads of an ECS cluster: its container instances, tasks and services. */
export interface EcsClusterState {
  /**
   * Container instances of the cluster (ListContainerInstances + DescribeContainerInstances),
   * all statuses but INACTIVE. With `ec2InstanceIds`, only those on these EC2 instances — the
   * adapter filters client-side too, so an endpoint that ignores `filter` cannot widen it.
   */
  containerInstances(
    cluster: string,
    query?: { ec2InstanceIds?: string[]; status?: string },
    opts?: CallOptions,
  ): Promise<ContainerInstance[]>;
  /**
   * Tasks of the cluster (ListTasks for desired status RUNNING *and* STOPPED — a task being
   * stopped is still running — then DescribeTasks). With `containerInstance`, only its tasks.
   */
  tasks(
    cluster: string,
    query?: { containerInstance?: string },
    opts?: CallOptions,
  ): Promise<EcsTask[]>;
  /** Services by name or ARN (DescribeServices); ones that do not exist are absent. */
  services(cluster: string, names: string[], opts?: CallOptions): Promise<EcsService[]>;
  /** ARNs of every service in the cluster (ListServices, paginated). */
  serviceArns(cluster: string, opts?: CallOptions): Promise<string[]>;
  /** DescribeTaskDefinition, reduced to what one task reserves. */
  taskReservation(taskDefinition: string, opts?: CallOptions): Promise<TaskReservation>;
}

/** What themis changes in an ECS cluster. */
export interface EcsClusterControl {
  /**
   * UpdateContainerInstancesState. Setting the state an instance already has is accepted by
   * ECS, so this is safe to repeat. Throws when ECS reports a failure for any of them.
   */
  setContainerInstancesState(
    cluster: string,
    containerInstanceArns: string[],
    status: 'ACTIVE' | 'DRAINING',
    opts?: CallOptions,
  ): Promise<void>;
  /** UpdateService desiredCount. */
  setDesiredCount(
    cluster: string,
    service: string,
    desiredCount: number,
    opts?: CallOptions,
  ): Promise<void>;
}

/** A queue's backlog (sqs:GetQueueAttributes ApproximateNumberOfMessages). */
export interface QueueDepth {
  approximateMessages(queueUrl: string, opts?: CallOptions): Promise<number>;
}

/** A group's size limits and members (DescribeAutoScalingGroups), as the scale function needs them. */
export interface GroupCapacityInfo {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  instances: GroupInstance[];
}

/**
 * Sizing an Auto Scaling group (autoscaling:DescribeAutoScalingGroups, SetDesiredCapacity,
 * TerminateInstanceInAutoScalingGroup).
 */
export interface GroupCapacity {
  /** undefined when the group does not exist. */
  describeCapacity(groupName: string, opts?: CallOptions): Promise<GroupCapacityInfo | undefined>;
  setDesiredCapacity(groupName: string, desiredCapacity: number, opts?: CallOptions): Promise<void>;
  /** Terminate one instance, decrementing the desired capacity (the lifecycle hook still holds it). */
  terminateInstance(instanceId: string, opts?: CallOptions): Promise<void>;
}
