/**
 * The deploy's params (serverless.yml `params`, or `--param k=v`): one schema.
 *
 * A param that becomes a function's environment variable is checked with the very field the
 * function reads that variable with (lib/config.ts, lib/gate/config.ts,
 * lib/protect/config.ts): a value the function would refuse at its cold start is refused
 * here, by param name, while the template is built and before anything reaches AWS. The
 * params only the deploy reads (groups, the VPC, the hook, the e-mail, the backlog and ECS
 * parts) have their fields here. serverless.yml's `params.default` holds every default,
 * and every param there has its field here (test/packaging.test.ts checks both ways): a new
 * param is a default there and a field here.
 *
 * An empty value means "not given" (serverless.yml spells "none" as ''). A list is a
 * comma-separated string (`--param`) or a YAML list (`params:`).
 */
import * as z from 'zod';
import {
  LOG_RETENTION_DAYS,
  MAX_HEARTBEAT_TIMEOUT_SECONDS,
  MIN_HEARTBEAT_TIMEOUT_SECONDS,
  SQS_VISIBILITY_PER_FUNCTION_TIMEOUT,
} from '../lib/aws/facts.js';
import {
  boolLike,
  ecsClusterName,
  groupName,
  intLike,
  parseOrThrow,
  settingsShape,
  sqsQueueUrl,
} from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import {
  FAILED_STEPS_RIDDEN,
  MAX_PROBE_TIMEOUT_MS,
  heartbeatMarginSeconds,
  requiredFunctionTimeoutSeconds,
  requiredHeartbeatTimeoutSeconds,
  type BudgetSum,
  type GateTiming,
} from '../lib/gate/budget.js';
import { gateEnvSchema } from '../lib/gate/config.js';
import { protectEnvSchema } from '../lib/protect/config.js';

/** '' (and a param YAML left empty) is "not given". */
function given<S extends z.ZodType>(schema: S) {
  return z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());
}

/**
 * A list of `item`s, each refused with its value in the message; a value listed twice is
 * refused too (a group twice would be two hooks of one name on one group).
 */
function list(item: z.ZodType<string, string>) {
  return z.preprocess(
    (v) =>
      (Array.isArray(v) ? v.map(String) : String(v ?? '').split(','))
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    z.array(z.string()).superRefine((items, ctx) => {
      for (const value of items) {
        const result = item.safeParse(value);
        if (!result.success) {
          ctx.addIssue({
            code: 'custom',
            message: `"${value}" ${result.error.issues[0]?.message}`,
          });
          return;
        }
      }
      if (new Set(items).size !== items.length) {
        ctx.addIssue({ code: 'custom', message: 'lists the same value twice' });
      }
    }),
  );
}

/** A group name the deploy puts into ARNs and an event pattern, where '*' and '/' would widen them. */
const deployedGroupName = groupName.refine(
  (v) => !/[*/]/.test(v),
  'is not a valid group name ("*" and "/" would widen its ARN)',
);

/** `group=messages per instance`, comma-separated: a target-tracking policy per group. */
const backlogTargets = z.preprocess(
  (v) =>
    (Array.isArray(v) ? v.map(String) : String(v ?? '').split(','))
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  z.array(z.string()).transform((entries, ctx) => {
    const targets: { group: string; target: number }[] = [];
    for (const entry of entries) {
      const at = entry.lastIndexOf('=');
      const group = at > 0 ? entry.slice(0, at).trim() : '';
      const value = at > 0 ? entry.slice(at + 1).trim() : '';
      if (!deployedGroupName.safeParse(group).success || group.includes('=')) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not <group>=<messages per instance>`,
        });
        return z.NEVER;
      }
      if (!/^\d+(\.\d+)?$/.test(value) || !(Number(value) > 0)) {
        ctx.addIssue({
          code: 'custom',
          message: `the target of ${group} must be a positive number, not "${value}"`,
        });
        return z.NEVER;
      }
      targets.push({ group, target: Number(value) });
    }
    if (new Set(targets.map((t) => t.group)).size !== targets.length) {
      ctx.addIssue({ code: 'custom', message: 'names a group twice' });
      return z.NEVER;
    }
    return targets;
  }),
);

const gate = gateEnvSchema.shape;
const protect = protectEnvSchema.shape;

const paramsSchema = z
  .object({
    // --- what to watch
    groups: list(deployedGroupName),
    tagDiscovery: given(boolLike).transform((v) => v ?? false),
    // --- the VPC
    subnetIds: list(z.string().regex(/^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/, 'is not a subnet id')),
    securityGroupIds: list(
      z.string().regex(/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/, 'is not a security group id'),
    ),
    // --- the lifecycle hook
    installHooks: given(boolLike).transform((v) => v ?? false),
    hookName: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9\-_/]{1,255}$/, 'must be 1–255 letters, digits, "-", "_" or "/"'),
    heartbeatTimeout: intLike(MIN_HEARTBEAT_TIMEOUT_SECONDS, MAX_HEARTBEAT_TIMEOUT_SECONDS),
    // What Auto Scaling does if themis never answers: a lifecycle result (the gate's RETAIN
    // policy is not one).
    hookDefaultResult: z
      .string()
      .trim()
      .toUpperCase()
      .pipe(z.enum(['CONTINUE', 'ABANDON'], 'must be CONTINUE or ABANDON')),
    // --- the launch-readiness gate's hook (docs/gate.md, "Launches and warm pools"); a group
    // is gated only once it is also tagged themis:launch-gate=true
    launchHooks: given(boolLike).transform((v) => v ?? false),
    launchHookName: given(gate.launchHookName.unwrap()).transform((v) => v ?? 'themis-launch'),
    // --- probing: the functions' settings (lib/config.ts)
    metricsPort: given(settingsShape.metricsPort),
    busyURL: given(settingsShape.busyURL),
    busyValue: given(settingsShape.busyValue),
    idleValue: given(settingsShape.idleValue),
    probeTimeoutMs: given(settingsShape.timeoutMs),
    protectUnknown: given(settingsShape.protectUnknown),
    dryRun: given(settingsShape.dryRun),
    // --- protect (lib/protect/config.ts)
    scansPerInvocation: given(protect.scansPerInvocation.unwrap()).transform((v) => v ?? 1),
    probeConcurrency: given(protect.probeConcurrency),
    queueUrl: given(sqsQueueUrl),
    backlogQueueArns: list(
      z
        .string()
        .regex(
          /^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/,
          'is not an SQS queue ARN',
        ),
    ),
    backlogTargets,
    // --- the gate (lib/gate/config.ts)
    recheckSeconds: gate.recheckSeconds.unwrap(),
    firstStepSpreadSeconds: given(gate.firstStepSpreadSeconds),
    maxWaitSeconds: given(gate.maxWaitSeconds),
    unknownLimit: given(gate.unknownLimit),
    onDeadline: given(gate.onDeadline),
    ssmDocument: given(gate.ssmDocument),
    ssmParameters: given(gate.ssmParameters),
    ssmTimeoutSeconds: given(gate.ssmTimeoutSeconds),
    onSsmFailure: given(gate.onSsmFailure),
    // --- ECS (docs/ecs.md); the clusters file is read by deploy/ecs.ts
    clustersFile: given(z.string().trim()),
    ecsClusters: list(ecsClusterName),
    // --- operations
    logRetentionDays: intLike(1, Math.max(...LOG_RETENTION_DAYS)).refine(
      (days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days),
      `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
    ),
    notifyEmail: given(
      // The address as it is given: the topic subscribes exactly this text.
      z.string().regex(/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/, 'is not an e-mail address'),
    ),
  })
  .superRefine((p, ctx) => {
    if ((p.subnetIds.length === 0) !== (p.securityGroupIds.length === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: [p.subnetIds.length ? 'securityGroupIds' : 'subnetIds'],
        message: 'subnetIds and securityGroupIds go together',
      });
    }
    if (p.launchHooks && p.launchHookName === p.hookName) {
      ctx.addIssue({
        code: 'custom',
        path: ['launchHookName'],
        message: 'must differ from hookName (a group has one hook of a name)',
      });
    }
    // A policy on a metric nobody publishes never scales: protect could read no queue.
    if (p.backlogTargets.length && !p.backlogQueueArns.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['backlogQueueArns'],
        message: 'must name the work queues when backlogTargets is set',
      });
    }
  });

export type DeployParams = z.output<typeof paramsSchema>;

/** Every param the deploy reads; serverless.yml's `params.default` has each one. */
export const PARAM_NAMES = Object.keys(paramsSchema.shape) as (keyof DeployParams)[];

/** The numbers serverless.yml sets that the gate's timing depends on (`custom.gate`). */
export interface StackNumbers {
  /** The recheck queue's VisibilityTimeout. */
  visibilityTimeoutSeconds: number;
  /** The gate function's timeout. */
  functionTimeoutSeconds: number;
  /** The recheck queue event source's batchSize. */
  batchSize: number;
}

/** The params, checked; `heartbeatMarginSeconds` is what the gate receives for them. */
export type CheckedParams = DeployParams & { heartbeatMarginSeconds: number };

/**
 * Parse the params and check the stack's timing with them. A bad param is a ConfigError
 * whose message starts `param "<name>": `; a serverless.yml whose own numbers break AWS's
 * guidance or the gate's budget is an Error that says `serverless.yml: …`.
 */
export function parseDeployParams(
  raw: Record<string, unknown>,
  stack: StackNumbers,
): CheckedParams {
  const p = parseOrThrow(paramsSchema, raw, (path) => `param "${path.split('.')[0]}"`);
  return { ...p, heartbeatMarginSeconds: checkTiming(p, stack) };
}

const sumText = ({ seconds, terms }: BudgetSum) =>
  `${terms.map((t) => `${t.label}: ${t.seconds} s`).join(' + ')} = ${seconds} s`;

/**
 * The stack's timing, checked: SQS's visibility guidance, a function timeout that fits a
 * batch of worst-case steps (the largest probe a tag can ask for included), and a hook
 * HeartbeatTimeout longer than the heartbeat margin — the longest a busy instance can go
 * without a heartbeat when FAILED_STEPS_RIDDEN steps in a row fail. Returns the margin.
 */
function checkTiming(p: DeployParams, stack: StackNumbers): number {
  const timing: GateTiming = {
    recheckSeconds: p.recheckSeconds,
    functionTimeoutSeconds: stack.functionTimeoutSeconds,
    visibilityTimeoutSeconds: stack.visibilityTimeoutSeconds,
    maxProbeTimeoutMs: MAX_PROBE_TIMEOUT_MS,
    failedStepsRidden: FAILED_STEPS_RIDDEN,
    batchSize: stack.batchSize,
  };
  const perTimeout = SQS_VISIBILITY_PER_FUNCTION_TIMEOUT;
  const minimumVisibility = perTimeout * timing.functionTimeoutSeconds;
  if (timing.visibilityTimeoutSeconds < minimumVisibility) {
    throw new Error(
      `serverless.yml: the recheck queue's VisibilityTimeout (${timing.visibilityTimeoutSeconds} s) ` +
        `must be at least ${perTimeout} × the gate function's timeout ` +
        `(${perTimeout} × ${timing.functionTimeoutSeconds} = ${minimumVisibility} s), ` +
        `as AWS advises for an SQS event source; shorter, a record is delivered again while its step may still run`,
    );
  }
  const functionNeeds = requiredFunctionTimeoutSeconds(timing);
  if (timing.functionTimeoutSeconds < functionNeeds.seconds) {
    throw new Error(
      `serverless.yml: the gate function's timeout (${timing.functionTimeoutSeconds} s) is shorter ` +
        `than a batch of ${timing.batchSize} records needs: ${sumText(functionNeeds)}`,
    );
  }
  const hookNeeds = requiredHeartbeatTimeoutSeconds(timing);
  if (p.heartbeatTimeout <= hookNeeds.seconds) {
    throw new ConfigError(
      'param "heartbeatTimeout"',
      `must be longer than the gate's heartbeat margin, the longest a busy instance can go ` +
        `without a heartbeat when ${timing.failedStepsRidden} steps in a row fail ` +
        `(${sumText(hookNeeds)}), not ${p.heartbeatTimeout}`,
    );
  }
  return heartbeatMarginSeconds(timing);
}
