'use strict';
/* global module, require, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- osls require()s this CommonJS file */
/**
 * The ECS parts of the stack (deploy/stack.cjs calls these): the opt-in scale function with
 * its schedule and role, and the ECS permissions protect and the gate need for groups in ECS
 * mode.
 *
 * The scale function exists only when a clusters file is given: the `clustersFile` param
 * (a path inside the project), or `clusters.yml` at the project's root. The file is packaged
 * with the function and read there at cold start (THEMIS_CLUSTERS_FILE). Its clusters and
 * groups scope the scale role: ECS calls on the named clusters only, Auto Scaling changes on
 * the named groups only. Those two fields therefore must be literal (no `%(NAME)`): the
 * deployer's environment is not the function's.
 *
 * `ecsClusters` (comma-separated names or ARNs) lets protect and the gate read — and the gate
 * drain — container instances of clusters that groups name by tag; the clusters of the
 * clusters file are included. Without any, the roles get no ECS permission at all.
 */
const { existsSync, readFileSync } = require('node:fs');
const { isAbsolute, join, normalize } = require('node:path');
const YAML = require('yaml');

const SERVICE_DIR = join(__dirname, '..');
const DEFAULT_CLUSTERS_FILE = 'clusters.yml';
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255}$/;

function fail(name, detail) {
  throw new Error(`param "${name}": ${detail}`);
}

const sub = (s) => ({ 'Fn::Sub': s });
const PREFIX = (service) => `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}`;

function clusterArn(nameOrArn) {
  return nameOrArn.startsWith('arn:') ? nameOrArn : sub(`${PREFIX('ecs')}:cluster/${nameOrArn}`);
}

const groupArn = (name) =>
  sub(`${PREFIX('autoscaling')}:autoScalingGroup:*:autoScalingGroupName/${name}`);

/** https://sqs.<region>.amazonaws.com/<account>/<name> → its ARN; undefined when not literal. */
function queueArn(url) {
  const m =
    /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(\d{12})\/([\w-]{1,80}(?:\.fifo)?)$/.exec(
      url,
    );
  return m ? sub(`arn:\${AWS::Partition}:sqs:${m[1]}:${m[2]}:${m[3]}`) : undefined;
}

function list(value) {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((v) => v.trim()).filter((v) => v !== '');
}

/** The clusters file: which file, and the clusters, groups and queues it names. */
function readClustersFile(param, serviceDir) {
  const given = String(param ?? '').trim();
  const relative = given || DEFAULT_CLUSTERS_FILE;
  if (given) {
    const clean = normalize(given);
    if (isAbsolute(given) || clean.startsWith('..')) {
      fail('clustersFile', `"${given}" must be a path inside the project (it is packaged)`);
    }
  }
  const path = join(serviceDir, relative);
  if (!existsSync(path)) {
    if (given) fail('clustersFile', `${given} does not exist`);
    return undefined;
  }
  let doc;
  try {
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail('clustersFile', `${relative} is not valid YAML (${String(err.message).split('\n')[0]})`);
  }
  const clusters = doc && typeof doc === 'object' ? doc.clusters : undefined;
  if (!clusters || typeof clusters !== 'object' || Array.isArray(clusters)) {
    fail('clustersFile', `${relative} must have a "clusters" map`);
  }
  const out = { file: normalize(relative), clusters: [], queueArns: [], anyQueue: false };
  for (const [name, def] of Object.entries(clusters)) {
    if (!CLUSTER_NAME.test(name) && !CLUSTER_ARN.test(name)) {
      fail('clustersFile', `${relative}: "${name}" is not an ECS cluster name or ARN`);
    }
    const group = def && typeof def === 'object' ? def.autoscale_group : undefined;
    if (typeof group !== 'string' || group === '' || /[%*/]/.test(group)) {
      fail(
        'clustersFile',
        `${relative}: clusters.${name}.autoscale_group must be a literal group name (it scopes IAM)`,
      );
    }
    if (def.enabled === false) continue;
    out.clusters.push({ name, group });
    for (const service of Object.values(def.services ?? {})) {
      const url = service && service.metric && service.metric.sqs_queue_url;
      if (typeof url !== 'string') continue;
      const arn = queueArn(url);
      if (arn) out.queueArns.push(arn);
      else out.anyQueue = true; // %(NAME) or an endpoint we cannot name: any queue here.
    }
  }
  return out;
}

/** Parse the ECS params; `serviceDir` is the project (tests pass a temp copy). */
function parseEcsParams(raw, serviceDir = SERVICE_DIR) {
  const file = readClustersFile(raw.clustersFile, serviceDir);
  const extra = list(raw.ecsClusters);
  for (const c of extra) {
    if (!CLUSTER_NAME.test(c) && !CLUSTER_ARN.test(c)) {
      fail('ecsClusters', `"${c}" is not an ECS cluster name or ARN`);
    }
  }
  const readable = [...new Set([...extra, ...(file ? file.clusters.map((c) => c.name) : [])])];
  return { file, readable };
}

/** ECS reads (and, for the gate, DRAINING) on the container instances of named clusters. */
function ecsStatements(sid, clusters, actions) {
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
      Resource: sub(`${PREFIX('ecs')}:*`),
      Condition: { ArnEquals: { 'ecs:cluster': clusters.map(clusterArn) } },
    },
  ];
}

const READ_ACTIONS = [
  'ecs:DescribeContainerInstances',
  'ecs:ListTasks',
  'ecs:DescribeTasks',
  'ecs:DescribeServices',
];

function scaleStatements(file) {
  const clusters = file.clusters.map((c) => c.name);
  const groups = [...new Set(file.clusters.map((c) => c.group))];
  const statements = [
    {
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::GetAtt': ['ScaleLogGroup', 'Arn'] },
    },
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
      Resource: file.anyQueue ? sub(`${PREFIX('sqs')}:*`) : file.queueArns,
    });
  }
  return statements;
}

/** The scale function's definition, or null (osls drops a null function). */
function scaleFunction(e) {
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

/** Add the scale role and the ECS statements of protect and the gate to `out.Resources`. */
function addEcsResources(out, e, vpcStatement) {
  const policy = (role) => role.Properties.Policies[0].PolicyDocument.Statement;
  if (out.Resources.ProtectRole) {
    policy(out.Resources.ProtectRole).push(...ecsStatements('EcsMode', e.readable, READ_ACTIONS));
  }
  if (out.Resources.GateRole) {
    policy(out.Resources.GateRole).push(
      ...ecsStatements('EcsMode', e.readable, [
        ...READ_ACTIONS,
        'ecs:UpdateContainerInstancesState',
      ]),
    );
  }
  if (e.file) {
    out.Resources.ScaleRole = role([
      ...scaleStatements(e.file),
      ...(vpcStatement ? [vpcStatement] : []),
    ]);
  }
  return out;
}

/** A Lambda execution role with one inline policy (the stack's roles use it too). */
function role(statements) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
          },
        ],
      },
      Policies: [
        { PolicyName: 'themis', PolicyDocument: { Version: '2012-10-17', Statement: statements } },
      ],
    },
  };
}

module.exports = { parseEcsParams, scaleFunction, addEcsResources, role };
