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
import { topicArn } from '../gate/config.js';

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
}

export const PROTECT_ENV = {
  targets: 'THEMIS_TARGETS',
  tagDiscovery: 'THEMIS_TAG_DISCOVERY',
  scansPerInvocation: 'THEMIS_SCANS_PER_INVOCATION',
  probeConcurrency: 'THEMIS_PROBE_CONCURRENCY',
  topicArn: 'THEMIS_TOPIC_ARN',
} as const;

/** Every 5 s at most: more scans than that cost API calls without fresher answers. */
export const MAX_SCANS_PER_INVOCATION = 12;
/** Each probe holds a socket; Lambda allows 1,024 descriptors for everything. */
export const MAX_PROBE_CONCURRENCY = 200;

function readEnv<S extends z.ZodType>(
  env: NodeJS.ProcessEnv,
  name: string,
  schema: S,
): z.output<S> | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(name, result.error.issues[0]?.message ?? 'is invalid');
  }
  return result.data;
}

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
  const region = readEnv(env, 'AWS_REGION', regionName);
  if (!region) throw new ConfigError('AWS_REGION', 'must be set (Lambda sets it)');

  const settings = parseSettingsFromEnv(env);

  let targets: ConfiguredTarget[] = [];
  const rawTargets = env[PROTECT_ENV.targets];
  if (rawTargets !== undefined && rawTargets.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawTargets);
    } catch (err) {
      throw new ConfigError(PROTECT_ENV.targets, `is not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed)) {
      throw new ConfigError(PROTECT_ENV.targets, 'must be a JSON array of targets');
    }
    targets = parseTargetList(parsed, region, (i, key) =>
      key ? `${PROTECT_ENV.targets}[${i}].${key}` : `${PROTECT_ENV.targets}[${i}]`,
    );
  }

  const tagDiscovery =
    readEnv(env, PROTECT_ENV.tagDiscovery, boolLike) ?? (targets.length === 0 ? true : false);
  const scansPerInvocation =
    readEnv(env, PROTECT_ENV.scansPerInvocation, intLike(1, MAX_SCANS_PER_INVOCATION)) ?? 1;

  const probeConcurrency = readEnv(
    env,
    PROTECT_ENV.probeConcurrency,
    intLike(1, MAX_PROBE_CONCURRENCY),
  );

  const topic = readEnv(env, PROTECT_ENV.topicArn, topicArn);

  return {
    region,
    settings,
    targets,
    tagDiscovery,
    scansPerInvocation,
    ...(probeConcurrency !== undefined ? { probeConcurrency } : {}),
    ...(topic !== undefined ? { topicArn: topic } : {}),
  };
}
