/**
 * Comparing packaged templates across a change of the deploy code: the stacks a set of params
 * builds, as CloudFormation would create them, without what differs from one packaging run to
 * the next (where osls puts each zip).
 *
 * "As CloudFormation would create them": a resource whose Condition is false is not created,
 * and `Fn::If` takes its branch, so a part declared with a Condition and a part a script adds
 * only when needed compare equal when they create the same stack. Conditions here compare
 * literal strings (osls has put each param's value in the template), which is all the stack
 * declares; anything else is an error rather than a guess.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOBS_CLUSTER_YML } from '../helpers/clusters-yml.js';
import { packageOnce, type PackagedStack, type Template } from './package-stack.js';

/** Param sets whose stacks are compared; the fixtures are named after the keys. */
export const COMPARED_STACKS: Record<
  string,
  { params: Record<string, string>; clusters?: string }
> = {
  // serverless.yml's defaults: no groups, no tag discovery.
  defaults: { params: {} },
  // Every param of the main packaging test.
  full: {
    params: {
      groups: 'workers-a,workers_b',
      subnetIds: 'subnet-0a1b2c3d4e5f60718,subnet-0123abcd',
      securityGroupIds: 'sg-0a1b2c3d4e5f60718',
      notifyEmail: 'ops@example.com',
      heartbeatTimeout: '3600',
      hookDefaultResult: 'ABANDON',
      recheckSeconds: '45',
      maxWaitSeconds: '7200',
      unknownLimit: '4',
      onDeadline: 'ABANDON',
      onSsmFailure: 'ABANDON',
      ssmDocument: 'themis-drain',
      ssmParameters: '{"commands":["systemctl stop worker"]}',
      ssmTimeoutSeconds: '300',
      dryRun: 'true',
      scansPerInvocation: '3',
      probeConcurrency: '8',
      metricsPort: '9100',
    },
  },
  // Tag discovery with listed groups, an AWS-owned document, no hooks installed.
  discoveryAndGroups: {
    params: {
      groups: 'web',
      tagDiscovery: 'true',
      installHooks: 'false',
      ssmDocument: 'AWS-RunShellScript',
      hookName: 'drain/themis',
    },
  },
  // Queue-driven groups and ECS clusters named by tag.
  backlogAndEcs: {
    params: {
      groups: 'jobs',
      backlogTargets: 'jobs=20,render=2.5',
      backlogQueueArns:
        'arn:aws:sqs:us-east-1:123456789012:jobs,arn:aws:sqs:us-east-1:123456789012:frames.fifo',
      scansPerInvocation: '6',
      queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
      ecsClusters: 'tagged-cluster',
    },
  },
  // The scale function, from a clusters file.
  scale: {
    params: { groups: 'jobs-asg', subnetIds: 'subnet-0123abcd', securityGroupIds: 'sg-0123abcd' },
    clusters: `${JOBS_CLUSTER_YML}      render:
        min: 0
        max: 4
        metric: { sqs_queue_url: "%(RENDER_QUEUE)" }
`,
  },
};

type Json = unknown;

function evaluateCondition(value: Json, conditions: Record<string, Json>): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`cannot evaluate condition ${JSON.stringify(value)}`);
  }
  const [fn, args] = Object.entries(value)[0] ?? [];
  const list = args as Json[];
  switch (fn) {
    case 'Condition':
      return evaluateCondition(conditions[args as string], conditions);
    case 'Fn::Not':
      return !evaluateCondition(list[0], conditions);
    case 'Fn::And':
      return list.every((c) => evaluateCondition(c, conditions));
    case 'Fn::Or':
      return list.some((c) => evaluateCondition(c, conditions));
    case 'Fn::Equals': {
      const [a, b] = list;
      if (typeof a !== 'string' || typeof b !== 'string') {
        throw new Error(`Fn::Equals of non-literals: ${JSON.stringify(list)}`);
      }
      return a === b;
    }
    default:
      throw new Error(`cannot evaluate condition ${JSON.stringify(value)}`);
  }
}

const NO_VALUE = Symbol('AWS::NoValue');

function resolveIfs(value: Json, truth: Record<string, boolean>): Json | typeof NO_VALUE {
  if (Array.isArray(value)) {
    return value.map((v) => resolveIfs(v, truth)).filter((v) => v !== NO_VALUE);
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === 'Ref' && entries[0]![1] === 'AWS::NoValue') {
    return NO_VALUE;
  }
  if (entries.length === 1 && entries[0]![0] === 'Fn::If') {
    const [name, yes, no] = entries[0]![1] as [string, Json, Json];
    if (!(name in truth)) throw new Error(`Fn::If on an undeclared condition ${name}`);
    return resolveIfs(truth[name] ? yes : no, truth);
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of entries) {
    const r = resolveIfs(v, truth);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

/**
 * The stack CloudFormation would create from `template`: conditions evaluated, resources
 * and outputs whose condition is false dropped, `Fn::If` resolved, and each function's code
 * location (a per-run S3 key) left out.
 */
export function effectiveStack(template: Template): Template & Record<string, Json> {
  const t = JSON.parse(JSON.stringify(template)) as Record<string, Json> & {
    Conditions?: Record<string, Json>;
    Resources: Record<string, Record<string, Json>>;
    Outputs?: Record<string, Record<string, Json>>;
  };
  const conditions = t.Conditions ?? {};
  const truth: Record<string, boolean> = {};
  for (const name of Object.keys(conditions)) {
    truth[name] = evaluateCondition(conditions[name], conditions);
  }
  const keep = <T extends Record<string, Json>>(section: Record<string, T> | undefined) => {
    const out: Record<string, Json> = {};
    for (const [id, r] of Object.entries(section ?? {})) {
      const condition = r.Condition as string | undefined;
      if (condition !== undefined && !truth[condition]) continue;
      const rest: Record<string, Json> = { ...r };
      delete rest.Condition;
      out[id] = resolveIfs(rest, truth);
    }
    return out;
  };
  const resources = keep(t.Resources) as Record<string, { Properties?: Record<string, Json> }>;
  for (const r of Object.values(resources) as {
    Properties?: Record<string, Json>;
    DependsOn?: Json;
  }[]) {
    if (r.Properties && 'Code' in r.Properties) delete r.Properties.Code;
    // One id or a list, in any order: the same dependencies.
    if (r.DependsOn !== undefined) r.DependsOn = [r.DependsOn].flat().sort();
  }
  const rest: Record<string, Json> = { ...t };
  delete rest.Conditions;
  return { ...rest, Resources: resources, Outputs: keep(t.Outputs) } as Template &
    Record<string, Json>;
}

/** A stack as the resources (and other sections) where it differs from a base stack. */
export interface StackDelta {
  /** Resources added or changed, whole. */
  resources: Record<string, Json>;
  /** Resources of the base that this stack does not have. */
  removed: string[];
  /** Top-level sections other than Resources that differ, whole. */
  sections: Record<string, Json>;
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

export function deltaFrom(base: Record<string, Json>, stack: Record<string, Json>): StackDelta {
  const baseResources = base.Resources as Record<string, Json>;
  const resources = stack.Resources as Record<string, Json>;
  const delta: StackDelta = { resources: {}, removed: [], sections: {} };
  for (const [id, r] of Object.entries(resources)) {
    if (!same(baseResources[id], r)) delta.resources[id] = r;
  }
  delta.removed = Object.keys(baseResources).filter((id) => !(id in resources));
  for (const key of new Set([...Object.keys(base), ...Object.keys(stack)])) {
    if (key !== 'Resources' && !same(base[key], stack[key])) delta.sections[key] = stack[key];
  }
  return delta;
}

export function applyDelta(base: Record<string, Json>, delta: StackDelta): Record<string, Json> {
  const resources = { ...(base.Resources as Record<string, Json>), ...delta.resources };
  for (const id of delta.removed) delete resources[id];
  const out: Record<string, Json> = { ...base, ...delta.sections, Resources: resources };
  for (const [key, value] of Object.entries(delta.sections))
    if (value === undefined) delete out[key];
  return out;
}

/**
 * `serverless package` of one param set of COMPARED_STACKS, once per process (packageOnce:
 * test/packaging.test.ts checks the full stack of the same package).
 */
export async function packageCompared(name: string): Promise<PackagedStack> {
  const { params, clusters } = COMPARED_STACKS[name]!;
  const scratch = await mkdtemp(join(tmpdir(), 'themis-compare-'));
  try {
    const overlay: Record<string, string> = {};
    if (clusters) {
      await writeFile(join(scratch, 'clusters.yml'), clusters);
      overlay['clusters.yml'] = join(scratch, 'clusters.yml');
    }
    return await packageOnce({ stage: 'ci', params, overlay });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
