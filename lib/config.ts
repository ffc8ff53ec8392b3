/**
 * One configuration model, several sources. A *target* is an Auto Scaling group plus its
 * probe settings. Later sources override earlier ones:
 *   built-in defaults < function environment < the group's tags < the event
 * (for the gate: < the hook's NotificationMetadata JSON instead of the event).
 * Each source is validated on its own, so an error names the field *as that source spells
 * it* (`metricsPort`, `THEMIS_METRICS_PORT`, `themis:metrics-port`), then the valid layers are
 * merged over the defaults.
 */
import { dropUndefined } from './collections.js';
import { hasControlCharacter } from './text.js';
import * as z from 'zod';
import { ConfigError } from './errors.js';
import type { ProbeSettings } from './ports.js';

export interface TargetSettings extends ProbeSettings {
  /** Plan and report only; change nothing. */
  dryRun: boolean;
  /** Protect instances whose probe is unknown (default: leave them untouched). */
  protectUnknown: boolean;
  /**
   * ECS mode: the group's instances are container instances of this cluster (name or ARN),
   * and the busy signal is their tasks (lib/ecs), not an HTTP probe. Absent: HTTP mode.
   */
  ecsCluster?: string;
  /**
   * The group's work queue (an SQS queue URL): each protect scan publishes its backlog per
   * InService instance (lib/protect/backlog.ts). Absent: no backlog metrics.
   */
  queueUrl?: string;
}

export interface Target extends TargetSettings {
  asgName: string;
  region: string;
}

/** themis-lambda's defaults (the compatibility contract), plus themis's own additions. */
export const DEFAULT_SETTINGS: Readonly<TargetSettings> = Object.freeze({
  metricsPort: 9000,
  busyURL: '/work_status',
  busyValue: 'BUSY',
  idleValue: 'IDLE',
  // Long enough for a loaded worker's status handler, short enough that a scan of a large
  // group stays well inside one scheduled minute.
  timeoutMs: 2000,
  dryRun: false,
  protectUnknown: false,
});

export { hasControlCharacter };

// ---------------------------------------------------------------------------------------
// Value schemas. Events written by hand and environment variables carry numbers and
// booleans as strings ("9000", "true"); both spellings are accepted, nothing else is.

export function intLike(min: number, max: number) {
  return z
    .union([
      z.number(),
      z
        .string()
        .trim()
        .regex(/^-?\d+$/, 'must be a whole number')
        .transform(Number),
    ])
    .pipe(
      z
        .number()
        .int('must be a whole number')
        .min(min, {
          error: (issue) => `must be between ${min} and ${max}, not ${String(issue.input)}`,
        })
        .max(max, {
          error: (issue) => `must be between ${min} and ${max}, not ${String(issue.input)}`,
        }),
    );
}

export const boolLike = z.union([
  z.boolean(),
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
]);

export const nonEmptyText = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(256)
  .refine((v) => !hasControlCharacter(v), 'must not contain control characters');

/** Characters allowed in a path and query (RFC 3986 pchar plus '/' and '?'); no '#'. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;

/**
 * Normalise and check the probe path. It must be a path only: the host and port are
 * themis's, so anything that could change where the request goes — a scheme, `//host`,
 * `user@host`, `..` segments, backslashes, whitespace or control characters — is refused.
 * `work_status` and `/work_status` both become `/work_status`.
 */
export function normaliseProbePath(raw: string): string {
  const value = raw;
  if (value.length === 0) throw new Error('must not be empty');
  if (value.length > 512) throw new Error('must be at most 512 characters');
  if (/\s/.test(value) || hasControlCharacter(value))
    throw new Error('must not contain whitespace or control characters');
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value))
    throw new Error('must be a path, not a URL with a scheme');
  if (value.includes('\\')) throw new Error('must not contain backslashes');
  if (value.includes('@')) throw new Error("must not contain '@'");
  if (value.includes('#')) throw new Error("must not contain '#'");
  const path = value.startsWith('/') ? value : `/${value}`;
  if (path.startsWith('//')) throw new Error("must not start with '//' (that names a host)");
  // split() always yields a first element; the default only satisfies the type checker.
  const [pathPart = path] = path.split('?', 1);
  if (pathPart.includes('//')) throw new Error("must not contain '//'");
  const decoded = safeDecode(pathPart);
  if (decoded.split('/').some((seg) => seg === '..' || seg === '.')) {
    throw new Error("must not contain '.' or '..' segments");
  }
  if (!PATH_CHARS.test(path)) throw new Error('contains characters not allowed in a URL path');
  return path;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error('contains an invalid percent-encoding');
  }
}

export const probePath = z.string().transform((v, ctx) => {
  try {
    return normaliseProbePath(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/**
 * An ECS cluster name (1–255 letters, digits, '-' and '_') or a cluster ARN, old or new
 * partition (`arn:aws:ecs:…:cluster/name`, `arn:aws-cn:…`).
 */
export const ecsClusterName = z
  .string()
  .trim()
  .regex(
    /^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255})$/,
    'must be an ECS cluster name or ARN',
  );

/**
 * An SQS queue URL: http(s)://host[:port]/<12-digit account>/<queue name>. The host only
 * names the queue here: the SQS client sends to its own regional endpoint (or
 * AWS_ENDPOINT_URL), never to a host a tag chose (lib/aws/sqs-backlog.ts).
 */
export const sqsQueueUrl = z
  .string()
  .trim()
  .max(1024)
  .regex(
    /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/\d{12}\/[A-Za-z0-9_-]{1,80}(\.fifo)?$/,
    'must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/work',
  );

/** One schema per setting; the deploy checks its params with them too (deploy/params.ts). */
export const settingsShape = {
  metricsPort: intLike(1, 65535),
  busyURL: probePath,
  busyValue: nonEmptyText,
  idleValue: nonEmptyText,
  timeoutMs: intLike(50, 60_000),
  dryRun: boolLike,
  protectUnknown: boolLike,
  ecsCluster: ecsClusterName,
  queueUrl: sqsQueueUrl,
};

export type SettingsKey = keyof TargetSettings;
export const SETTINGS_KEYS = Object.keys(settingsShape) as SettingsKey[];

/** Environment variable for each setting (function-wide defaults). */
export const SETTINGS_ENV: Record<SettingsKey, string> = {
  metricsPort: 'THEMIS_METRICS_PORT',
  busyURL: 'THEMIS_BUSY_URL',
  busyValue: 'THEMIS_BUSY_VALUE',
  idleValue: 'THEMIS_IDLE_VALUE',
  timeoutMs: 'THEMIS_PROBE_TIMEOUT_MS',
  dryRun: 'THEMIS_DRY_RUN',
  protectUnknown: 'THEMIS_PROTECT_UNKNOWN',
  ecsCluster: 'THEMIS_ECS_CLUSTER',
  queueUrl: 'THEMIS_QUEUE_URL',
};

/** Group tag for each setting (per-group overrides). */
export const SETTINGS_TAGS: Record<SettingsKey, string> = {
  metricsPort: 'themis:metrics-port',
  busyURL: 'themis:busy-url',
  busyValue: 'themis:busy-value',
  idleValue: 'themis:idle-value',
  timeoutMs: 'themis:probe-timeout-ms',
  dryRun: 'themis:dry-run',
  protectUnknown: 'themis:protect-unknown',
  ecsCluster: 'themis:ecs-cluster',
  queueUrl: 'themis:queue-url',
};

export const ENABLED_TAG = 'themis:enabled';

const settingsLayer = z.strictObject(settingsShape).partial();

/** Turn the first zod issue into a ConfigError naming the field the way its source does. */
export function toConfigError(
  error: z.ZodError,
  nameOf: (key: string) => string = (k) => k,
): ConfigError {
  const issue = error.issues[0];
  if (!issue) return new ConfigError('config', error.message);
  if (issue.code === 'unrecognized_keys') {
    // Stryker disable next-line StringLiteral: zod reports unrecognized_keys with at least one key
    const key = issue.keys[0] ?? '?';
    const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
    return new ConfigError(nameOf(`${prefix}${key}`), 'unknown field (a typo?)');
  }
  const field = issue.path.length ? nameOf(issue.path.map(String).join('.')) : 'config';
  return new ConfigError(field, unionDetail(issue) ?? issue.message);
}

/**
 * For a value that matched no branch of a union (e.g. intLike: a number, or a string of
 * digits), the useful message is the one from the branch that accepted its type and
 * rejected its content ("must be a whole number"), not zod's bare "Invalid input". When
 * every branch refused the value's type (a boolean for a port), say which types would do.
 */
function unionDetail(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const expected: string[] = [];
  for (const branch of issue.errors) {
    const first = branch[0];
    // Stryker disable next-line ConditionalExpression: zod gives every failed branch an issue
    if (!first) continue;
    if (first.code !== 'invalid_type') return first.message;
    expected.push(first.expected);
  }
  return `must be a ${expected.join(' or a ')}`;
}

/** Parse with a schema or throw a ConfigError that names the field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  nameOf?: (key: string) => string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw toConfigError(result.error, nameOf);
  return result.data;
}

/** Settings given in an event (or NotificationMetadata), keyed as the themis event spells them. */
export function parseSettingsFromObject(
  raw: Record<string, unknown>,
  nameOf: (key: string) => string = (k) => k,
): Partial<TargetSettings> {
  return dropUndefined(parseOrThrow(settingsLayer, raw, nameOf));
}

/** Settings from THEMIS_* environment variables; a bad value names the variable. */
export function parseSettingsFromEnv(env: NodeJS.ProcessEnv): Partial<TargetSettings> {
  const raw: Record<string, string> = {};
  for (const key of SETTINGS_KEYS) {
    const value = env[SETTINGS_ENV[key]];
    // Unset and empty both mean "not given".
    if (value) raw[key] = value;
  }
  return parseSettingsFromObject(raw, (k) => SETTINGS_ENV[k as SettingsKey] ?? k);
}

/** Per-group overrides from `themis:*` tags; other tags are ignored. A bad value names the tag. */
export function parseSettingsFromTags(tags: Record<string, string>): Partial<TargetSettings> {
  const raw: Record<string, string> = {};
  for (const key of SETTINGS_KEYS) {
    const value = tags[SETTINGS_TAGS[key]];
    // Stryker disable next-line ConditionalExpression: an absent tag (undefined) is dropped anyway
    if (value !== undefined) raw[key] = value;
  }
  return parseSettingsFromObject(raw, (k) => SETTINGS_TAGS[k as SettingsKey] ?? k);
}

/** defaults < layers[0] < layers[1] < … */
export function mergeSettings(...layers: Partial<TargetSettings>[]): TargetSettings {
  return Object.assign({}, DEFAULT_SETTINGS, ...layers.map(dropUndefined));
}

/** Auto Scaling group names: 1–255 characters, no control characters. */
export const groupName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255)
  .refine((v) => !hasControlCharacter(v), 'must not contain control characters');

export const regionName = z
  .string()
  .trim()
  .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1');

/**
 * One target as the themis event spells it:
 * `{ asgName, region, metricsPort, busyURL, busyValue, idleValue, dryRun }` (+ timeoutMs,
 * protectUnknown). Unknown fields are refused: they are almost always typos.
 */
export const targetInput = z
  .strictObject({
    asgName: groupName,
    region: regionName.optional(),
    ...settingsShape,
  })
  .partial({
    metricsPort: true,
    busyURL: true,
    busyValue: true,
    idleValue: true,
    timeoutMs: true,
    dryRun: true,
    protectUnknown: true,
    ecsCluster: true,
    queueUrl: true,
  });

export type TargetInput = z.output<typeof targetInput>;

/** Split a parsed target input into its group/region and its settings layer. */
export function splitTargetInput(input: TargetInput): {
  asgName: string;
  region?: string;
  settings: Partial<TargetSettings>;
} {
  const { asgName, region, ...settings } = input;
  return { asgName, region, settings: dropUndefined(settings) };
}
