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
}

/** Groups and their members (autoscaling:DescribeAutoScalingGroups, paginated). */
export interface GroupDirectory {
  /** Groups that do not exist are absent from the answer, not an error. */
  describeGroups(names: string[], opts?: CallOptions): Promise<GroupSnapshot[]>;
  /** Every group in the region carrying tag `key` = `value` (a filter on the API call). */
  findGroupsByTag(key: string, value: string, opts?: CallOptions): Promise<GroupSnapshot[]>;
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

export const MAX_PROTECTION_BATCH = 50;

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
}

/** The classification of one HTTP probe. */
export type ProbeStatus = 'busy' | 'idle' | 'unknown';

export interface ProbeResult {
  status: ProbeStatus;
  /** Why the answer is unknown (timeout, refused, HTTP 500, body "…", oversize, …). */
  reason?: string;
  latencyMs: number;
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

/** Milliseconds since the epoch; injected so decisions can run on a virtual clock. */
export type Clock = () => number;

/** The structured logger shape themis uses (Powertools Logger satisfies it). */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}
