/**
 * The protect function's own configuration, read from its environment once at cold start.
 * A bad value is a ConfigError naming the variable (for THEMIS_TARGETS, the entry and field:
 * `THEMIS_TARGETS[1].metricsPort`), so a broken deploy fails on its first invocation with a
 * message that says what to fix.
 */
import * as z from 'zod';
import {
  boolLike,
  intLike,
  parseOrThrow,
  parseSettingsFromEnv,
  regionName,
  splitTargetInput,
  targetInput,
  type TargetSettings,
} from '../config.js';
import { ConfigError } from '../errors.js';
import { queueUrl, topicArn } from '../gate/config.js';

/** One group named in configuration, before tags and the event are layered on. */
export interface ConfiguredTarget {
  asgName: string;
  region: string;
  settings: Partial<TargetSettings>;
}

export interface ProtectConfig {
  /** The function's own region (AWS_REGION): the default for targets and where discovery looks. */
  region: string;
  /** Function-wide settings from THEMIS_* variables. */
  settings: Partial<TargetSettings>;
  /** THEMIS_TARGETS entries. */
  targets: ConfiguredTarget[];
  /** Scan every group tagged themis:enabled=true in `region`. */
  tagDiscovery: boolean;
  /** Scans spread evenly over each scheduled minute (1..12). */
  scansPerInvocation: number;
  /**
   * Probes in flight at once within one group, when set (THEMIS_PROBE_CONCURRENCY); unset,
   * it follows the group's size within the descriptor budget (lib/probe.ts).
   */
  probeConcurrency?: number;
  /** Where "released retained" notices go (THEMIS_TOPIC_ARN, the gate's outcome topic). */
  topicArn?: string;
  /**
   * The gate's recheck queue (THEMIS_RECHECK_QUEUE_URL): a released notice SNS refused goes
   * there, and the gate publishes it (lib/protect/retained.ts).
   */
  recheckQueueUrl?: string;
}

/** The variables this module reads, by ProtectConfig field (for error messages and docs). */
export const PROTECT_ENV = {
  region: 'AWS_REGION',
  targets: 'THEMIS_TARGETS',
  tagDiscovery: 'THEMIS_TAG_DISCOVERY',
  scansPerInvocation: 'THEMIS_SCANS_PER_INVOCATION',
  probeConcurrency: 'THEMIS_PROBE_CONCURRENCY',
  topicArn: 'THEMIS_TOPIC_ARN',
  recheckQueueUrl: 'THEMIS_RECHECK_QUEUE_URL',
} as const;

/** Every 5 s at most: more scans than that cost API calls without fresher answers. */
export const MAX_SCANS_PER_INVOCATION = 12;
/** Each probe holds a socket; Lambda allows 1,024 descriptors for everything. */
export const MAX_PROBE_CONCURRENCY = 200;

/**
 * The variables other than THEMIS_TARGETS (whose entries are parsed one by one, for errors
 * that name the entry); the deploy checks its params with the same fields (deploy/params.ts).
 */
export const protectEnvSchema = z.object({
  region: regionName,
  // Unset: tag discovery when no group is listed (parseProtectConfig).
  tagDiscovery: boolLike.optional(),
  scansPerInvocation: intLike(1, MAX_SCANS_PER_INVOCATION).default(1),
  // Unset: the group's size, within the descriptor budget (lib/probe.ts).
  probeConcurrency: intLike(1, MAX_PROBE_CONCURRENCY).optional(),
  // Where "released retained" notices go; unset, none are sent.
  topicArn: topicArn.optional(),
  // Where a released notice SNS refused waits for the gate's retry; unset, it is only logged.
  recheckQueueUrl: queueUrl.optional(),
});

type ProtectEnvKey = keyof typeof PROTECT_ENV;

/**
 * Parse a list of targets as the themis event spells them. `nameOf(i, key)` names a field
 * for errors, e.g. `targets[0].busyURL` or `THEMIS_TARGETS[1].metricsPort`.
 */
export function parseTargetList(
  raw: unknown[],
  defaultRegion: string,
  nameOf: (index: number, key?: string) => string,
): ConfiguredTarget[] {
  const seen = new Set<string>();
  return raw.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new ConfigError(nameOf(i), 'must be an object such as { "asgName": "workers" }');
    }
    const input = parseOrThrow(targetInput, entry, (key) => nameOf(i, key));
    const { asgName, region, settings } = splitTargetInput(input);
    const resolvedRegion = region ?? defaultRegion;
    const key = `${resolvedRegion}/${asgName}`;
    if (seen.has(key)) {
      throw new ConfigError(
        nameOf(i, 'asgName'),
        `${asgName} in ${resolvedRegion} is listed twice`,
      );
    }
    seen.add(key);
    return { asgName, region: resolvedRegion, settings };
  });
}

export function parseProtectConfig(env: NodeJS.ProcessEnv): ProtectConfig {
  // Unset and empty both mean "not given", as for the gate (lib/gate/config.ts).
  const raw: Partial<Record<ProtectEnvKey, string>> = {};
  for (const [key, variable] of Object.entries(PROTECT_ENV) as [ProtectEnvKey, string][]) {
    const value = env[variable];
    if (value !== undefined && value.trim() !== '') raw[key] = value;
  }
  if (raw.region === undefined)
    throw new ConfigError(PROTECT_ENV.region, 'must be set (Lambda sets it)');
  const { targets: rawTargets, ...rest } = raw;
  const parsed = parseOrThrow(
    protectEnvSchema,
    rest,
    (key) => PROTECT_ENV[key as ProtectEnvKey] ?? key,
  );
  const targets = rawTargets === undefined ? [] : parseTargetsVariable(rawTargets, parsed.region);
  return {
    region: parsed.region,
    settings: parseSettingsFromEnv(env),
    targets,
    tagDiscovery: parsed.tagDiscovery ?? targets.length === 0,
    scansPerInvocation: parsed.scansPerInvocation,
    ...(parsed.probeConcurrency !== undefined ? { probeConcurrency: parsed.probeConcurrency } : {}),
    ...(parsed.topicArn !== undefined ? { topicArn: parsed.topicArn } : {}),
    ...(parsed.recheckQueueUrl !== undefined ? { recheckQueueUrl: parsed.recheckQueueUrl } : {}),
  };
}

/** THEMIS_TARGETS: a JSON array of targets; errors name the entry (`THEMIS_TARGETS[1].metricsPort`). */
function parseTargetsVariable(text: string, region: string): ConfiguredTarget[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(PROTECT_ENV.targets, `is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed)) {
    throw new ConfigError(PROTECT_ENV.targets, 'must be a JSON array of targets');
  }
  return parseTargetList(parsed, region, (i, key) =>
    key ? `${PROTECT_ENV.targets}[${i}].${key}` : `${PROTECT_ENV.targets}[${i}]`,
  );
}
