/**
 * The numbers the stack deploys, read from serverless.yml and the deploy's own code
 * (deploy/stack.cjs), never copied: function timeouts, the gate's environment, the SQS event
 * source's batch size, the recheck queue's visibility timeout and maxReceiveCount, Lambda's
 * asynchronous retries, and the lifecycle hook the stack installs on a group. When the stack
 * changes, the simulator follows.
 *
 * `${param:x}` takes the stage's param (serverless.yml `params.default`, overridden by
 * `params`), `${file(./deploy/stack.cjs):key}` runs the deploy's module as osls does — so a
 * combination of params the deploy refuses is refused here too, with the deploy's message.
 * (The packaged CLI ships both files, so `themis sandbox` reads them when installed too.)
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { LAUNCHING, TERMINATING } from '../lib/aws/facts.js';
import type { LifecycleResult } from '../lib/ports.js';
import { resolveStack } from '../deploy/stack.js';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

type Json = unknown;
type Doc = Record<string, Json>;

export interface DeployedFunction {
  timeoutSeconds: number;
  /** Provider environment plus the function's own, with params resolved. */
  env: Record<string, string>;
}

export interface DeployedHook {
  name: string;
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
}

export interface Deployed {
  params: Record<string, string>;
  gate: DeployedFunction & {
    /** Lambda's retries of a failed asynchronous (EventBridge) invocation. */
    maximumRetryAttempts: number;
    /** The recheck queue's event source mapping. */
    batchSize: number;
    maximumBatchingWindowSeconds: number;
  };
  protect: DeployedFunction & { rateMinutes: number };
  recheckQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number };
  /** The terminating hook the stack installs on each listed group. */
  hook: DeployedHook;
  /** The launching hook it installs too, with launchHooks=true. */
  launchHook?: DeployedHook;
}

let cachedDoc: Doc | undefined;

export function readServerlessYml(): Doc {
  cachedDoc ??= YAML.parse(readFileSync(join(PROJECT_ROOT, 'serverless.yml'), 'utf8'), {
    logLevel: 'silent',
  }) as Doc;
  return cachedDoc;
}

function at(doc: Json, path: readonly (string | number)[]): Json {
  let cursor = doc;
  for (const key of path) {
    if (cursor === null || typeof cursor !== 'object') return undefined;
    cursor = (cursor as Record<string, Json>)[String(key)];
  }
  return cursor;
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === null || (typeof value === 'number' && Number.isNaN(value)))
    throw new Error(`serverless.yml: ${what} is not set`);
  return value;
}

const cache = new Map<string, Promise<Deployed>>();

/**
 * deploy/stack.ts's resolveStack — what deploy/stack.cjs hands osls — imported, not
 * require()d through stack.cjs: that would load lib/ a second time through tsx's CommonJS
 * hooks, and product code would meet two copies of each error class. Typed here as the JSON
 * the simulator reads.
 */
const deployModule = resolveStack as unknown as (ctx: {
  resolveVariable(v: string): Promise<Json>;
  resolveConfigurationProperty(path: string[]): Promise<Json>;
}) => Promise<Record<string, Json>>;

/**
 * The stack as deployed with serverless.yml's default params, `params` overriding some (as
 * `--param` does). The deploy's module runs with them and may refuse them (it throws).
 */
export function deployed(params: Record<string, string> = {}): Promise<Deployed> {
  const key = JSON.stringify(Object.entries(params).sort());
  let hit = cache.get(key);
  if (!hit) {
    hit = build(params);
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
  }
  return hit;
}

async function build(overrides: Record<string, string>): Promise<Deployed> {
  const doc = readServerlessYml();
  const defaults = (at(doc, ['params', 'default']) ?? {}) as Record<string, Json>;
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(defaults)) params[k] = v === null ? '' : String(v);
  // One group, so the deploy builds a hook we can read.
  Object.assign(params, { groups: 'sim-group', ...overrides });
  const stage = 'sim';

  const fromStack = await deployModule({
    resolveVariable: async (v) => {
      if (v.startsWith('param:')) return params[v.slice(6)];
      if (v === 'sls:stage') return stage;
      if (v.startsWith('opt:')) return undefined;
      throw new Error(`deploy/stack.cjs asked for ${v}, unknown to the simulator`);
    },
    resolveConfigurationProperty: async (path) => at(doc, path),
  });

  const resolve = (value: Json): Json => {
    if (typeof value !== 'string') return value;
    const whole = /^\$\{file\(\.\/deploy\/stack\.cjs\):(\w+)(?:, *[^}]*)?\}$/.exec(value);
    if (whole) return fromStack[whole[1]!];
    // `${self:custom.gate.timeoutSeconds}`: a number serverless.yml sets once.
    const self = /^\$\{self:([\w.]+)\}$/.exec(value);
    if (self) return resolve(at(doc, self[1]!.split('.')));
    return value
      .replace(/\$\{param:(\w+)\}/g, (_, name: string) => params[name] ?? '')
      .replace(/\$\{sls:stage\}/g, stage)
      .replace(/\$\{file\(\.\/deploy\/stack\.cjs\):(\w+)\}/g, (_, k: string) =>
        String(fromStack[k]),
      );
  };
  const envOf = (fn: string): Record<string, string> => {
    const env: Record<string, string> = {};
    const merged = {
      ...((at(doc, ['provider', 'environment']) ?? {}) as Record<string, Json>),
      ...((at(doc, ['functions', fn, 'environment']) ?? {}) as Record<string, Json>),
    };
    for (const [k, v] of Object.entries(merged)) {
      const r = resolve(v);
      env[k] = typeof r === 'string' ? r : JSON.stringify(r);
    }
    return env;
  };

  const gateEvents = (at(doc, ['functions', 'gate', 'events']) ?? []) as Array<
    Record<string, Json>
  >;
  const sqs = gateEvents.map((e) => e.sqs).find(Boolean) as Record<string, Json> | undefined;
  const protectEvents = (at(doc, ['functions', 'protect', 'events']) ?? []) as Array<
    Record<string, Json>
  >;
  const schedule = String(protectEvents.map((e) => e.schedule).find(Boolean) ?? '');
  const rate = /rate\((\d+) minutes?\)/.exec(schedule);

  const resources = (at(doc, ['resources']) ?? []) as Json[];
  const queue = resources
    .map((r) => at(r, ['Resources', 'RecheckQueue', 'Properties']))
    .find(Boolean) as Record<string, Json> | undefined;

  const stackResources = (at(fromStack, ['resources', 'Resources']) ?? {}) as Record<string, Json>;
  const hooks = Object.values(stackResources).filter(
    (r) => at(r, ['Type']) === 'AWS::AutoScaling::LifecycleHook',
  );
  const hookOf = (transition: string) =>
    hooks.find((r) => at(r, ['Properties', 'LifecycleTransition']) === transition);
  const hookProps = must(
    at(hookOf(TERMINATING), ['Properties']),
    'the lifecycle hook (deploy/stack.cjs)',
  );
  const launchProps = at(hookOf(LAUNCHING), ['Properties']);

  return {
    params,
    gate: {
      timeoutSeconds: Number(
        must(resolve(at(doc, ['functions', 'gate', 'timeout'])), 'functions.gate.timeout'),
      ),
      env: envOf('gate'),
      maximumRetryAttempts: Number(
        must(
          at(doc, ['functions', 'gate', 'maximumRetryAttempts']),
          'functions.gate.maximumRetryAttempts',
        ),
      ),
      batchSize: Number(must(resolve(sqs?.batchSize), 'the gate sqs event batchSize')),
      maximumBatchingWindowSeconds: Number(sqs?.maximumBatchingWindow ?? 0),
    },
    protect: {
      timeoutSeconds: Number(
        must(resolve(at(doc, ['functions', 'protect', 'timeout'])), 'functions.protect.timeout'),
      ),
      env: envOf('protect'),
      rateMinutes: Number(must(rate?.[1], 'the protect schedule rate')),
    },
    recheckQueue: {
      visibilityTimeoutSeconds: Number(
        must(resolve(queue?.VisibilityTimeout), 'RecheckQueue VisibilityTimeout'),
      ),
      maxReceiveCount: Number(
        must(at(queue, ['RedrivePolicy', 'maxReceiveCount']), 'RecheckQueue maxReceiveCount'),
      ),
    },
    hook: hookFrom(hookProps),
    ...(launchProps ? { launchHook: hookFrom(launchProps) } : {}),
  };
}

/** A LifecycleHook resource's properties as the simulator's hook. */
function hookFrom(props: Json): DeployedHook {
  const metadata = at(props, ['NotificationMetadata']);
  return {
    name: String(must(at(props, ['LifecycleHookName']), 'LifecycleHookName')),
    heartbeatTimeoutSeconds: Number(must(at(props, ['HeartbeatTimeout']), 'HeartbeatTimeout')),
    defaultResult: at(props, ['DefaultResult']) === 'ABANDON' ? 'ABANDON' : 'CONTINUE',
    ...(typeof metadata === 'string' ? { notificationMetadata: metadata } : {}),
  };
}
