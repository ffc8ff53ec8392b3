/**
 * AWS's facts that themis depends on — names, limits and documented ceilings — written once.
 * Every other module imports them from here; a test (test/aws/facts.test.ts) checks that no
 * other module of lib/, functions/ or sim/ writes one of these literals again.
 */

// ── Auto Scaling lifecycle hooks ──────────────────────────────────────────────────────────

/** The transition of a terminate lifecycle hook (LifecycleTransition, and events' field). */
export const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';
/** The transition of a launch lifecycle hook. */
export const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';
/** What Auto Scaling sends a hook's notification target when the hook is created. */
export const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';
/** EventBridge `detail-type` of a terminate lifecycle action. */
export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
/** EventBridge `detail-type` of a launch lifecycle action (Pending:Wait, Warmed:Pending:Wait). */
export const LAUNCH_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action';

// ── Warm pools ─────────────────────────────────────────────────────────────────────────────
// Source: Amazon EC2 Auto Scaling User Guide, "Warm pool example events and patterns"
// (warm-pools-eventbridge-events) and "Use lifecycle hooks with a warm pool"
// (warm-pool-instance-lifecycle); the LifecycleState enum of the API reference.

/**
 * Where an instance comes from and goes to, in a lifecycle event's `Origin` and `Destination`
 * (`detail` of the EventBridge event; sent only by groups that have a warm pool).
 */
export const PLACE_EC2 = 'EC2';
export const PLACE_GROUP = 'AutoScalingGroup';
export const PLACE_WARM_POOL = 'WarmPool';
export const LIFECYCLE_PLACES = [PLACE_EC2, PLACE_GROUP, PLACE_WARM_POOL] as const;
export type LifecyclePlace = (typeof LIFECYCLE_PLACES)[number];

/** Lifecycle states (DescribeAutoScalingInstances / DescribeWarmPool `LifecycleState`). */
export const PENDING_WAIT = 'Pending:Wait';
export const TERMINATING_WAIT = 'Terminating:Wait';
/**
 * A launch into the warm pool waits here (launch hook); so does an instance returning to the
 * pool on scale-in under ReuseOnScaleIn (terminate hook), per the user guide.
 */
export const WARMED_PENDING_WAIT = 'Warmed:Pending:Wait';
/** An instance of the warm pool being terminated waits here (terminate hook). */
export const WARMED_TERMINATING_WAIT = 'Warmed:Terminating:Wait';
/** Where a warm instance rests, by the pool's PoolState (Stopped is the default). */
export const WARMED_STOPPED = 'Warmed:Stopped';
export const WARMED_RUNNING = 'Warmed:Running';
export const WARMED_HIBERNATED = 'Warmed:Hibernated';
/** PutWarmPool's PoolState values, and the Warmed:* state each one rests in. */
export const WARM_POOL_RESTING_STATE = {
  Stopped: WARMED_STOPPED,
  Running: WARMED_RUNNING,
  Hibernated: WARMED_HIBERNATED,
} as const;
export type WarmPoolState = keyof typeof WARM_POOL_RESTING_STATE;
/** A lifecycle action can be held at most this long (the global timeout's cap, 48 h)… */
export const GLOBAL_TIMEOUT_CAP_SECONDS = 48 * 3600;
/** …and at most this many HeartbeatTimeouts, whichever is smaller. */
export const GLOBAL_TIMEOUT_HEARTBEATS = 100;
/** The API's default HeartbeatTimeout, when a hook is created without one. */
export const DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 3600;
/** PutLifecycleHook's HeartbeatTimeout range. */
export const MIN_HEARTBEAT_TIMEOUT_SECONDS = 30;
export const MAX_HEARTBEAT_TIMEOUT_SECONDS = 7200;

/** The documented global timeout of a hook: min(48 h, 100 × HeartbeatTimeout). */
export function documentedGlobalTimeoutSeconds(heartbeatTimeoutSeconds: number): number {
  return Math.min(GLOBAL_TIMEOUT_CAP_SECONDS, GLOBAL_TIMEOUT_HEARTBEATS * heartbeatTimeoutSeconds);
}

// ── Instance retention (an instance lifecycle policy) ───────────────────────────────────
// InstanceLifecyclePolicy.RetentionTriggers.TerminateHookAbandon on Create/UpdateAutoScalingGroup,
// returned by DescribeAutoScalingGroups (API_RetentionTriggers; user guide
// instance-lifecycle-policy.html and manage-retained-instances.html).

/** TerminateHookAbandon's value that keeps an abandoned terminating instance (the other is 'terminate'). */
export const RETAIN_ON_ABANDON = 'retain';
/** The state of an instance kept after its terminate lifecycle action was abandoned. */
export const TERMINATING_RETAINED = 'Terminating:Retained';
/** The warm pool's retained states: TerminateInstanceInAutoScalingGroup cannot be called on them. */
export const WARMED_PENDING_RETAINED = 'Warmed:Pending:Retained';
export const WARMED_TERMINATING_RETAINED = 'Warmed:Terminating:Retained';
/**
 * Every retained state AWS documents, all three from an abandoned terminate lifecycle action
 * (the only retention trigger, TerminateHookAbandon): a termination out of the group, a return
 * to the warm pool (ReuseOnScaleIn), a termination from the warm pool. Source: the user guide's
 * "Manage retained instances" (its three state paths) and the LifecycleState enum of
 * @aws-sdk/client-auto-scaling 3.1169 — no launch (Pending:Retained) or other retained state
 * exists.
 */
export const RETAINED_STATES = [
  TERMINATING_RETAINED,
  WARMED_PENDING_RETAINED,
  WARMED_TERMINATING_RETAINED,
] as const;
export type RetainedState = (typeof RETAINED_STATES)[number];
export function isRetainedState(lifecycleState: string): lifecycleState is RetainedState {
  return (RETAINED_STATES as readonly string[]).includes(lifecycleState);
}

// ── Auto Scaling API limits ────────────────────────────────────────────────────────────────

/** SetInstanceProtection takes at most 50 instance ids per call. */
export const MAX_PROTECTION_BATCH = 50;
/**
 * DescribeAutoScalingGroups accepts 50 names by default and up to 100 when MaxRecords is
 * raised to its maximum of 100.
 */
export const MAX_GROUP_NAMES_PER_CALL = 100;
/** MaxRecords' maximum for DescribeAutoScalingGroups / DescribeAutoScalingInstances. */
export const MAX_RECORDS_PER_PAGE = 100;
/** …and its default, when a request leaves MaxRecords out. */
export const DEFAULT_RECORDS_PER_PAGE = 50;

// ── Transient AWS errors ───────────────────────────────────────────────────────────────
// Source: the AWS SDK for JavaScript v3's retry classification (@smithy/service-error-
// classification: its throttling and transient codes, and 5xx statuses) and the ECS API
// reference's common errors (ServerException: "a server issue"). Any other error name —
// AccessDeniedException, ClusterNotFoundException, InvalidParameterException, ClientException —
// fails the same way every time it is asked again.

/** Error names of throttling: the request is fine, it is only too soon. */
export const THROTTLING_ERROR_NAMES: readonly string[] = [
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'PriorThrottlingException',
  'SlowDown',
  // Not LimitExceededException, which the SDK retries as throttling: for Auto Scaling and ECS
  // it names a quota (too many hooks, tags, clusters), which asking again does not lift.
];
/** Error names of a service failing on its side, or of an attempt that timed out. */
export const TRANSIENT_ERROR_NAMES: readonly string[] = [
  'ServerException',
  'InternalFailure',
  'InternalError',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
];
/** HTTP statuses of an answer worth asking again (too many requests, the server's fault). */
export const TRANSIENT_HTTP_STATUSES: readonly number[] = [429, 500, 502, 503, 504];
/**
 * Node's error codes for a connection that could not be made or broke — DNS included
 * (ENOTFOUND, EAI_AGAIN): the SDK's NODEJS_TIMEOUT_ERROR_CODES and NODEJS_NETWORK_ERROR_CODES,
 * plus ECONNABORTED.
 */
export const NETWORK_ERROR_CODES: readonly string[] = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
];

// ── SQS, SNS, SSM, Lambda ──────────────────────────────────────────────────────────────────

/** SQS accepts DelaySeconds from 0 to 900 (15 minutes), whole seconds only. */
export const MAX_DELAY_SECONDS = 900;
/**
 * SNS documents subjects as "less than 100 characters" (moto rejects more than 100). We
 * stop at 99 so neither reading of that sentence can reject a notice.
 */
export const MAX_SUBJECT_CHARS = 99;
/** SendCommand's TimeoutSeconds (delivery) accepts 30 s at the least… */
export const MIN_SSM_TIMEOUT_SECONDS = 30;
/** …and is 3600 s when a request leaves it out. */
export const DEFAULT_SSM_TIMEOUT_SECONDS = 3600;
/** Open files, sockets included, that a Lambda execution environment allows. */
export const LAMBDA_FILE_DESCRIPTORS = 1024;
/**
 * Lambda's waits before retrying a failed asynchronous invocation (an EventBridge rule or an
 * SNS topic invoking the function): one minute before the first retry, two more before the
 * second ("Error handling and automatic retries in Lambda"). No retry comes sooner.
 */
export const LAMBDA_ASYNC_RETRY_DELAYS_SECONDS: readonly number[] = [60, 120];
/** The retention periods CloudWatch Logs accepts (PutRetentionPolicy's retentionInDays). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;
/** AWS's guidance for an SQS event source: the queue's visibility timeout ≥ 6 × the function's timeout. */
export const SQS_VISIBILITY_PER_FUNCTION_TIMEOUT = 6;
