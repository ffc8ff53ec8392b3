/**
 * The gate's configuration, read once at cold start from the function's environment.
 * Every variable is optional except THEMIS_RECHECK_QUEUE_URL; a bad value is a ConfigError
 * that names the variable, so a broken deploy fails on its first invocation, loudly,
 * instead of mis-handling terminations.
 */
import {
  GLOBAL_TIMEOUT_CAP_SECONDS,
  MAX_DELAY_SECONDS,
  MIN_SSM_TIMEOUT_SECONDS,
} from '../aws/facts.js';
import * as z from 'zod';
import { intLike, parseOrThrow, parseSettingsFromEnv, type TargetSettings } from '../config.js';
import { ConfigError } from '../errors.js';
import { FAILURE_POLICIES, type FailurePolicy } from '../retain/decide.js';
import { DEFAULT_HEARTBEAT_MARGIN_SECONDS } from './budget.js';

export interface SsmConfig {
  documentName: string;
  /** Parameter name → values, as SendCommand takes them. */
  parameters: Record<string, string[]>;
  /**
   * How long the command may take from SendCommand to a final status (delivery and run):
   * past it the gate cancels the command and applies THEMIS_ON_SSM_FAILURE. Also sent as
   * SendCommand's TimeoutSeconds, which bounds only the delivery.
   */
  timeoutSeconds: number;
}

export interface GateConfig {
  /**
   * The recheck queue. Required: without it the gate cannot wait, and a gate that cannot
   * wait would have to release busy instances — the one thing it exists to prevent.
   */
  recheckQueueUrl: string;
  /** Outcome topic; absent = no notifications (logs only). */
  topicArn?: string;
  /** Preferred time between two checks of one held instance. */
  recheckSeconds: number;
  /** Longest hold counted from first sight; absent = only the hook's global timeout limits it. */
  maxWaitSeconds?: number;
  /** Consecutive unknown answers after which the instance is released as unreachable. */
  unknownLimit: number;
  /**
   * What to complete with when the deadline comes while the instance is still busy. RETAIN:
   * ABANDON into the group's Terminating:Retained state, only where the group retains
   * (lib/retain/decide.ts); protect then terminates the instance once it is idle.
   */
  onDeadline: FailurePolicy;
  /** The optional pre-termination command. */
  ssm?: SsmConfig;
  /** What to complete with when the command fails, times out or cannot be sent (RETAIN as above). */
  onSsmFailure: FailurePolicy;
  /**
   * How long before the hook's HeartbeatTimeout the gate must have heartbeated
   * (lib/gate/budget.ts); the deploy computes it from the stack's real numbers.
   */
  heartbeatMarginSeconds: number;
  /**
   * A lifecycle event's first step runs from the recheck queue, 0 to this many seconds later
   * (random), instead of in the invocation the event started; 0 or absent: at once. The
   * events of a large scale-in arrive together: stepped at once, each from a container of its
   * own, they describe the group and the hook hundreds of times in a second against the
   * account's Auto Scaling rate limit; queued, they are spread and share those calls by batch.
   */
  firstStepSpreadSeconds?: number;
  /**
   * Probe settings (and dryRun) from THEMIS_METRICS_PORT, THEMIS_BUSY_URL, … — the layer
   * between the built-in defaults and each group's `themis:*` tags.
   */
  settings: Partial<TargetSettings>;
  /**
   * The name of themis's launch hook (THEMIS_LAUNCH_HOOK_NAME; the deploy sets it when it
   * installs one). Launch actions of other hooks are left alone (launch.ts: launchOwnership).
   */
  launchHookName?: string;
  /** Longest readiness wait of a launch (THEMIS_LAUNCH_MAX_WAIT_SECONDS; default launch.ts). */
  launchMaxWaitSeconds?: number;
}

/** SQS caps DelaySeconds at 900 s, so no recheck can be further away than that. */
export const MAX_RECHECK_SECONDS = MAX_DELAY_SECONDS;

export const GATE_DEFAULTS = Object.freeze({
  // Probing is cheap and heartbeats are recorded only when due (decide.ts: heartbeatDue), so
  // a short interval buys release latency without Auto Scaling calls.
  recheckSeconds: 10,
  unknownLimit: 3,
  onDeadline: 'CONTINUE' as FailurePolicy,
  onSsmFailure: 'CONTINUE' as FailurePolicy,
  // Long enough for a log backup to S3 (the seed's use), short enough that a hung agent does
  // not hold the instance for the whole hook.
  ssmTimeoutSeconds: 600,
});

/** The variables this module reads, by GateConfig field (for error messages and docs). */
export const GATE_ENV = {
  recheckQueueUrl: 'THEMIS_RECHECK_QUEUE_URL',
  topicArn: 'THEMIS_TOPIC_ARN',
  recheckSeconds: 'THEMIS_RECHECK_SECONDS',
  maxWaitSeconds: 'THEMIS_MAX_WAIT_SECONDS',
  unknownLimit: 'THEMIS_UNKNOWN_LIMIT',
  onDeadline: 'THEMIS_ON_DEADLINE',
  ssmDocument: 'THEMIS_SSM_DOCUMENT',
  ssmParameters: 'THEMIS_SSM_PARAMETERS',
  ssmTimeoutSeconds: 'THEMIS_SSM_TIMEOUT_SECONDS',
  onSsmFailure: 'THEMIS_ON_SSM_FAILURE',
  heartbeatMarginSeconds: 'THEMIS_HEARTBEAT_MARGIN_SECONDS',
  launchHookName: 'THEMIS_LAUNCH_HOOK_NAME',
  launchMaxWaitSeconds: 'THEMIS_LAUNCH_MAX_WAIT_SECONDS',
  firstStepSpreadSeconds: 'THEMIS_FIRST_STEP_SPREAD_SECONDS',
} as const;

const failurePolicy = z
  .string()
  .trim()
  .toUpperCase()
  .pipe(z.enum(FAILURE_POLICIES, 'must be CONTINUE, ABANDON or RETAIN'));

/** An SQS queue URL (THEMIS_RECHECK_QUEUE_URL; protect reads the same variable). */
export const queueUrl = z
  .string()
  .trim()
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) SQS queue URL' }));

/** An SNS topic ARN (THEMIS_TOPIC_ARN; protect reads the same variable). */
export const topicArn = z
  .string()
  .trim()
  .regex(/^arn:[\w-]+:sns:[\w-]+:\d{12}:[\w.-]{1,256}$/, 'must be an SNS topic ARN');

/** SSM document names, or a document ARN (shared documents). */
const documentName = z
  .string()
  .trim()
  .regex(
    /^(arn:[\w-]+:ssm:[\w-]*:\d*:document\/)?[A-Za-z0-9_.-]{3,128}$/,
    'must be an SSM document name or ARN',
  );

const parameterValues = z.union([z.string(), z.array(z.string())]);

const ssmParameters = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(
      z.string().min(1),
      parameterValues,
      'must be a JSON object of string or string[] values',
    ),
  )
  .transform((params) =>
    Object.fromEntries(
      Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? [v] : v]),
    ),
  );

/** The deploy checks its params with these fields too (deploy/params.ts). */
export const gateEnvSchema = z.object({
  recheckQueueUrl: queueUrl,
  topicArn: topicArn.optional(),
  recheckSeconds: intLike(5, MAX_RECHECK_SECONDS).default(GATE_DEFAULTS.recheckSeconds),
  // 48 h is the longest any hook can hold an instance (its global timeout cap).
  maxWaitSeconds: intLike(60, GLOBAL_TIMEOUT_CAP_SECONDS).optional(),
  unknownLimit: intLike(1, 100).default(GATE_DEFAULTS.unknownLimit),
  onDeadline: failurePolicy.default(GATE_DEFAULTS.onDeadline),
  ssmDocument: documentName.optional(),
  ssmParameters: ssmParameters.optional(),
  // SendCommand accepts 30 s at the least.
  ssmTimeoutSeconds: intLike(MIN_SSM_TIMEOUT_SECONDS, GLOBAL_TIMEOUT_CAP_SECONDS).default(
    GATE_DEFAULTS.ssmTimeoutSeconds,
  ),
  onSsmFailure: failurePolicy.default(GATE_DEFAULTS.onSsmFailure),
  // At most Auto Scaling's largest HeartbeatTimeout: a larger margin means "every step".
  heartbeatMarginSeconds: intLike(0, 7200).default(DEFAULT_HEARTBEAT_MARGIN_SECONDS),
  // PutLifecycleHook's LifecycleHookName: 1–255 of [A-Za-z0-9\-_\/].
  launchHookName: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9\-_/]{1,255}$/, 'must be a lifecycle hook name')
    .optional(),
  launchMaxWaitSeconds: intLike(60, GLOBAL_TIMEOUT_CAP_SECONDS).optional(),
  // Well under the 50 s after which a first step counts as a retry (step.ts).
  firstStepSpreadSeconds: intLike(0, 30).default(0),
});

type GateEnvKey = keyof typeof GATE_ENV;

/** `ssmParameters.commands` → `THEMIS_SSM_PARAMETERS.commands`. */
function variableOf(path: string): string {
  const [head = '', ...rest] = path.split('.');
  return [GATE_ENV[head as GateEnvKey] ?? head, ...rest].join('.');
}

export function parseGateEnv(env: NodeJS.ProcessEnv): GateConfig {
  const raw: Partial<Record<GateEnvKey, string>> = {};
  for (const [key, variable] of Object.entries(GATE_ENV) as [GateEnvKey, string][]) {
    const value = env[variable];
    if (value !== undefined && value.trim() !== '') raw[key] = value;
  }
  if (raw.recheckQueueUrl === undefined) {
    throw new ConfigError(
      GATE_ENV.recheckQueueUrl,
      'is required: the gate waits for busy instances through this queue',
    );
  }
  const parsed = parseOrThrow(gateEnvSchema, raw, variableOf);
  // An empty object is the deploy's default for "no parameters", with or without a document.
  if (parsed.ssmParameters && Object.keys(parsed.ssmParameters).length && !parsed.ssmDocument) {
    throw new ConfigError(GATE_ENV.ssmParameters, `is set but ${GATE_ENV.ssmDocument} is not`);
  }
  return {
    recheckQueueUrl: parsed.recheckQueueUrl,
    ...(parsed.topicArn ? { topicArn: parsed.topicArn } : {}),
    recheckSeconds: parsed.recheckSeconds,
    ...(parsed.maxWaitSeconds !== undefined ? { maxWaitSeconds: parsed.maxWaitSeconds } : {}),
    unknownLimit: parsed.unknownLimit,
    onDeadline: parsed.onDeadline,
    ...(parsed.ssmDocument
      ? {
          ssm: {
            documentName: parsed.ssmDocument,
            parameters: parsed.ssmParameters ?? {},
            timeoutSeconds: parsed.ssmTimeoutSeconds,
          },
        }
      : {}),
    onSsmFailure: parsed.onSsmFailure,
    heartbeatMarginSeconds: parsed.heartbeatMarginSeconds,
    ...(parsed.firstStepSpreadSeconds
      ? { firstStepSpreadSeconds: parsed.firstStepSpreadSeconds }
      : {}),
    settings: parseSettingsFromEnv(env),
    ...(parsed.launchHookName ? { launchHookName: parsed.launchHookName } : {}),
    ...(parsed.launchMaxWaitSeconds !== undefined
      ? { launchMaxWaitSeconds: parsed.launchMaxWaitSeconds }
      : {}),
  };
}
