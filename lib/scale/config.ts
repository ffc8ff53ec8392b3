/**
 * clusters.yml: which ECS clusters the scale function sizes, and how it scales their services.
 * Read once at cold start from the file packaged with the function (THEMIS_CLUSTERS_FILE
 * overrides the path). `%(NAME)` (letters, digits, `_`) is replaced with the environment
 * variable NAME before the YAML is read — ecs-autoscale's supervisor-style expansion — and a
 * variable that is not set is a ConfigError naming it. Unknown keys are errors naming them:
 * they are almost always typos.
 *
 * ```yaml
 * clusters:
 *   <cluster name>:
 *     autoscale_group: <Auto Scaling group of its container instances>
 *     cpu_buffer: <CPU units an ACTIVE instance must keep free>
 *     mem_buffer: <MiB an ACTIVE instance must keep free>
 *     enabled: true                # optional, default true
 *     services:                    # optional
 *       <service name>:
 *         enabled: true            # optional, default true
 *         min: 1
 *         max: 10
 *         metric: { url: https://…, field: queue.depth }   # or { sqs_queue_url: https://… }
 *         events:                  # first match wins; null = unbounded; bounds inclusive
 *           - { metric_min: 100, metric_max: null, action: 2 }
 * ```
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import {
  boolLike,
  ecsClusterName,
  groupName,
  hasControlCharacter,
  parseOrThrow,
} from '../config.js';
import { ConfigError } from '../errors.js';
import type { ScaleEvent } from './services.js';

export const SCALE_ENV = {
  clustersFile: 'THEMIS_CLUSTERS_FILE',
  dryRun: 'THEMIS_DRY_RUN',
} as const;

/** Where the deploy puts clusters.yml inside the function's package. */
export const DEFAULT_CLUSTERS_FILE = 'clusters.yml';

export type MetricSource =
  { kind: 'url'; url: string; field: string } | { kind: 'sqs'; queueUrl: string };

export interface ServiceConfig {
  enabled: boolean;
  min: number;
  max: number;
  metric?: MetricSource;
  events: ScaleEvent[];
}

export interface ClusterConfig {
  name: string;
  autoscaleGroup: string;
  cpuBuffer: number;
  memBuffer: number;
  enabled: boolean;
  services: Record<string, ServiceConfig>;
}

export interface ScaleConfig {
  clusters: ClusterConfig[];
  /** THEMIS_DRY_RUN: report what would be done, change nothing. */
  dryRun: boolean;
}

const count = z.number().int('must be a whole number').min(0, 'must be 0 or more');
/** ECS allows at most 5,000 tasks per service. */
const taskCount = count.max(5000, 'must be at most 5000');

const httpUrl = z
  .string()
  .trim()
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }));

/** A dotted path into the JSON answer: `queue.depth`, `stats.0.value`. */
const fieldPath = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(256)
  .refine(
    (v) => !hasControlCharacter(v) && !v.split('.').includes(''),
    'must be a dotted path such as queue.depth',
  );

const metricSchema = z.union(
  [z.strictObject({ url: httpUrl, field: fieldPath }), z.strictObject({ sqs_queue_url: httpUrl })],
  'must be { url, field } or { sqs_queue_url }',
);

const bound = z.number('must be a number or null').nullable();

const eventSchema = z
  .strictObject({
    metric_min: bound,
    metric_max: bound,
    action: z.number().int('must be a whole number'),
  })
  .refine((e) => e.metric_min === null || e.metric_max === null || e.metric_min <= e.metric_max, {
    message: 'metric_min must not be above metric_max',
    path: ['metric_min'],
  });

const serviceSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    min: taskCount,
    max: taskCount,
    metric: metricSchema.optional(),
    events: z.array(eventSchema).default([]),
  })
  .refine((s) => s.min <= s.max, { message: 'min must not be above max', path: ['min'] })
  .refine((s) => s.events.length === 0 || s.metric !== undefined, {
    message: 'events need a metric',
    path: ['metric'],
  });

const clusterSchema = z.strictObject({
  autoscale_group: groupName,
  // An instance registers at most 10,240 CPU units per vCPU × 192 vCPUs; generous caps that
  // still catch a misplaced unit (bytes for MiB).
  cpu_buffer: count.max(1_000_000),
  mem_buffer: count.max(10_000_000),
  enabled: z.boolean().default(true),
  services: z.record(z.string().min(1).max(255), serviceSchema).default({}),
});

const fileSchema = z.strictObject({
  clusters: z.record(ecsClusterName, clusterSchema),
});

/** The variables other than THEMIS_CLUSTERS_FILE (a path, read below). */
const scaleEnvSchema = z.object({ dryRun: boolLike.default(false) });

const PLACEHOLDER = /%\(([^)]*)\)/g;

/** Replace every `%(NAME)` with the variable's value; a missing one is a ConfigError naming it. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, where: string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => {
    if (!/^[A-Za-z0-9_]+$/.test(name)) {
      throw new ConfigError(`%(${name})`, `in ${where}: a variable name is letters, digits and _`);
    }
    const value = env[name];
    if (value === undefined) {
      throw new ConfigError(name, `is not set (used as %(${name}) in ${where})`);
    }
    return value;
  });
}

/** Parse clusters.yml text (after substitution). Errors name the key path: `clusters.jobs.cpu_buffer`. */
export function parseClusters(text: string, where: string): ClusterConfig[] {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(where, `is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  const parsed = parseOrThrow(fileSchema, raw ?? {}, (path) => `${where}: ${path}`);
  return Object.entries(parsed.clusters).map(([name, c]) => ({
    name,
    autoscaleGroup: c.autoscale_group,
    cpuBuffer: c.cpu_buffer,
    memBuffer: c.mem_buffer,
    enabled: c.enabled,
    services: Object.fromEntries(
      Object.entries(c.services).map(([service, s]) => [
        service,
        {
          enabled: s.enabled,
          min: s.min,
          max: s.max,
          ...(s.metric ? { metric: toMetric(s.metric) } : {}),
          events: s.events.map((e) => ({
            metricMin: e.metric_min,
            metricMax: e.metric_max,
            action: e.action,
          })),
        },
      ]),
    ),
  }));
}

function toMetric(m: z.output<typeof metricSchema>): MetricSource {
  return 'url' in m
    ? { kind: 'url', url: m.url, field: m.field }
    : { kind: 'sqs', queueUrl: m.sqs_queue_url };
}

export function parseScaleConfig(env: NodeJS.ProcessEnv, readFile = readFileSync): ScaleConfig {
  const path = env[SCALE_ENV.clustersFile]?.trim() || DEFAULT_CLUSTERS_FILE;
  let text: string;
  try {
    text = readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(SCALE_ENV.clustersFile, `cannot read ${path}: ${(err as Error).message}`);
  }
  // THEMIS_DRY_RUN as protect and the gate read it (lib/config.ts); unset or empty: false.
  const dryRunRaw = env[SCALE_ENV.dryRun]?.trim();
  const { dryRun } = parseOrThrow(
    scaleEnvSchema,
    dryRunRaw ? { dryRun: dryRunRaw } : {},
    () => SCALE_ENV.dryRun,
  );
  return { clusters: parseClusters(substituteEnv(text, env, path), path), dryRun };
}
