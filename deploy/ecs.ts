/**
 * The ECS parts of the stack: the opt-in scale function with its schedule and role, and the
 * ECS permissions protect and the gate need for groups in ECS mode.
 *
 * The scale function exists only when a clusters file is given: the `clustersFile` param (a
 * path inside the project), or `clusters.yml` at the project's root. The file is packaged
 * with the function and read there at cold start (THEMIS_CLUSTERS_FILE). Its clusters and
 * groups scope the scale role: ECS calls on the named clusters only, Auto Scaling changes on
 * the named groups only. Those two fields therefore must be literal (no `%(NAME)`): the
 * deployer's environment is not the function's. The rest of the file is the scale function's
 * to check (lib/scale/config.ts), at its cold start, with the function's environment.
 *
 * `ecsClusters` (names or ARNs) lets protect and the gate read — and the gate drain —
 * container instances of clusters that groups name by tag; the clusters of the clusters file
 * are included. Without any, the roles get no ECS permission at all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import YAML from 'yaml';
import { ecsClusterName, groupName } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { DEFAULT_CLUSTERS_FILE } from '../lib/scale/config.js';
import { arnPrefix, groupArn, logStatement, role, sub, type Statement } from './iam.js';
import type { DeployParams } from './params.js';

export interface ClustersFile {
  /** The path inside the project (and inside the scale function's package). */
  file: string;
  /** The enabled clusters and the group of each. */
  clusters: { name: string; group: string }[];
  /** Work queues named by a literal URL. */
  queueArns: unknown[];
  /** A queue named by `%(NAME)` or an endpoint we cannot name: any queue of the account. */
  anyQueue: boolean;
}

export interface EcsParts {
  file?: ClustersFile;
  /** Clusters protect may read and the gate drain: ecsClusters and the file's. */
  readable: string[];
}

const fail = (param: string, detail: string): never => {
  throw new ConfigError(`param "${param}"`, detail);
};

/** https://sqs.<region>.amazonaws.com/<account>/<name> → its ARN; undefined when not literal. */
function queueArn(url: string) {
  const m =
    /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(\d{12})\/([\w-]{1,80}(?:\.fifo)?)$/.exec(
      url,
    );
  return m ? sub(`arn:\${AWS::Partition}:sqs:${m[1]}:${m[2]}:${m[3]}`) : undefined;
}

function clusterArn(nameOrArn: string) {
  return nameOrArn.startsWith('arn:') ? nameOrArn : sub(`${arnPrefix('ecs')}:cluster/${nameOrArn}`);
}

/** The clusters file: which file, and the clusters, groups and queues it names. */
export function readClustersFile(
  param: string | undefined,
  serviceDir: string,
): ClustersFile | undefined {
  const relative = param ?? DEFAULT_CLUSTERS_FILE;
  if (param && (isAbsolute(param) || normalize(param).startsWith('..'))) {
    fail('clustersFile', `"${param}" must be a path inside the project (it is packaged)`);
  }
  const path = join(serviceDir, relative);
  if (!existsSync(path)) {
    if (param) fail('clustersFile', `${param} does not exist`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(
      'clustersFile',
      `${relative} is not valid YAML (${String((err as Error).message).split('\n')[0]})`,
    );
  }
  const clusters = (doc as { clusters?: unknown } | null)?.clusters;
  if (!clusters || typeof clusters !== 'object' || Array.isArray(clusters)) {
    return fail('clustersFile', `${relative} must have a "clusters" map`);
  }
  const out: ClustersFile = {
    file: normalize(relative),
    clusters: [],
    queueArns: [],
    anyQueue: false,
  };
  for (const [name, def] of Object.entries(clusters as Record<string, unknown>)) {
    if (!ecsClusterName.safeParse(name).success) {
      fail('clustersFile', `${relative}: "${name}" is not an ECS cluster name or ARN`);
    }
    const cluster = (def ?? {}) as {
      autoscale_group?: unknown;
      enabled?: unknown;
      services?: Record<string, { metric?: { sqs_queue_url?: unknown } } | null>;
    };
    const group = cluster.autoscale_group;
    if (typeof group !== 'string' || !groupName.safeParse(group).success || /[%*/]/.test(group)) {
      fail(
        'clustersFile',
        `${relative}: clusters.${name}.autoscale_group must be a literal group name (it scopes IAM)`,
      );
    }
    if (cluster.enabled === false) continue;
    out.clusters.push({ name, group: group as string });
    for (const service of Object.values(cluster.services ?? {})) {
      const url = service?.metric?.sqs_queue_url;
      if (typeof url !== 'string') continue;
      const arn = queueArn(url);
      if (arn) out.queueArns.push(arn);
      else out.anyQueue = true;
    }
  }
  return out;
}

export function ecsParts(p: DeployParams, serviceDir: string): EcsParts {
  const file = readClustersFile(p.clustersFile, serviceDir);
  const readable = [...new Set([...p.ecsClusters, ...(file?.clusters.map((c) => c.name) ?? [])])];
  return { ...(file ? { file } : {}), readable };
}

const READ_ACTIONS = [
  'ecs:DescribeContainerInstances',
  'ecs:ListTasks',
  'ecs:DescribeTasks',
  'ecs:DescribeServices',
];

/** ECS reads (and, for the gate, DRAINING) on the container instances of named clusters. */
function ecsStatements(sid: string, clusters: string[], actions: string[]): Statement[] {
  if (clusters.length === 0) return [];
  return [
    {
      // Listing is authorised on the cluster itself.
      Sid: `${sid}ListContainerInstances`,
      Effect: 'Allow',
      Action: ['ecs:ListContainerInstances'],
      Resource: clusters.map(clusterArn),
    },
    {
      // Container instances, tasks and services of these clusters (old-format ARNs carry no
      // cluster name, so the ecs:cluster condition, not the ARN, does the scoping).
      Sid: `${sid}ClusterMembers`,
      Effect: 'Allow',
      Action: actions,
      Resource: sub(`${arnPrefix('ecs')}:*`),
      Condition: { ArnEquals: { 'ecs:cluster': clusters.map(clusterArn) } },
    },
  ];
}

export const protectEcsStatements = (e: EcsParts) =>
  ecsStatements('EcsMode', e.readable, READ_ACTIONS);

export const gateEcsStatements = (e: EcsParts) =>
  ecsStatements('EcsMode', e.readable, [...READ_ACTIONS, 'ecs:UpdateContainerInstancesState']);

function scaleStatements(file: ClustersFile): Statement[] {
  const clusters = file.clusters.map((c) => c.name);
  const groups = [...new Set(file.clusters.map((c) => c.group))];
  const statements: Statement[] = [
    logStatement('ScaleLogGroup'),
    ...ecsStatements('Scale', clusters, [
      ...READ_ACTIONS,
      'ecs:UpdateContainerInstancesState',
      'ecs:UpdateService',
    ]),
    {
      // Neither call supports resource-level permissions.
      Sid: 'ReadGroupsAndTaskDefinitions',
      Effect: 'Allow',
      Action: ['autoscaling:DescribeAutoScalingGroups', 'ecs:DescribeTaskDefinition'],
      Resource: '*',
    },
  ];
  if (groups.length) {
    statements.push({
      Sid: 'SizeNamedGroups',
      Effect: 'Allow',
      Action: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
      Resource: groups.map(groupArn),
    });
  }
  if (file.anyQueue || file.queueArns.length) {
    statements.push({
      Sid: 'ReadQueueDepth',
      Effect: 'Allow',
      Action: ['sqs:GetQueueAttributes'],
      Resource: file.anyQueue ? sub(`${arnPrefix('sqs')}:*`) : file.queueArns,
    });
  }
  return statements;
}

/** The scale function's role, with the VPC statement when the functions run in one. */
export function scaleRole(file: ClustersFile, vpcStatement: Statement | undefined) {
  return role([...scaleStatements(file), ...(vpcStatement ? [vpcStatement] : [])]);
}

/** The scale function's definition, or null (osls drops a null function). */
export function scaleFunction(e: EcsParts) {
  if (!e.file) return null;
  return {
    handler: 'functions/scale.handler',
    description: 'Sizes ECS clusters and their services; scale-in goes through the gate (themis)',
    role: 'ScaleRole',
    // One run reads each cluster and takes at most one action; well inside its minute.
    timeout: 55,
    // One run at a time: two overlapping runs could each take a cluster action on the same
    // picture. A run the schedule starts while one is still going is throttled and dropped.
    reservedConcurrency: 1,
    // A failed run is not retried: the next one is a minute away.
    maximumRetryAttempts: 0,
    maximumEventAge: 60,
    environment: {
      POWERTOOLS_SERVICE_NAME: 'themis-scale',
      THEMIS_CLUSTERS_FILE: e.file.file,
    },
    package: { patterns: [e.file.file] },
    events: [{ schedule: 'rate(1 minute)' }],
  };
}
