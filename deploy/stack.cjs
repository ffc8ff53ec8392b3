'use strict';
/* global module, require, __filename */
/**
 * The per-stage parts of serverless.yml that YAML alone cannot express: lists parsed from
 * params, the lifecycle hook per group, the e-mail subscription only when an address is set,
 * and the two least-privilege roles whose statements depend on the groups, on tag discovery
 * and on the SSM document.
 *
 * serverless.yml reads it as `${file(./deploy/stack.cjs):<key>}`; osls calls the exported
 * function once per reference with `resolveVariable`, so every key is built from the same
 * params. Plain CommonJS on purpose: osls `require`s this file, without TypeScript.
 *
 * A bad param is an error that names it (`param "recheckSeconds": …`), raised while the
 * template is built, before anything reaches AWS.
 *
 * The heartbeat budget is lib/gate/budget.ts's arithmetic, the same the gate runs with: this
 * file loads that TypeScript module through tsx (a dev dependency, present wherever osls
 * runs), so the deploy and the gate can never disagree on the formula.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded by osls
const { addEcsResources, parseEcsParams, role, scaleFunction } = require('./ecs.cjs');

/** Param names and their defaults; serverless.yml's `params.default` holds the same values. */
const PARAM_NAMES = [
  'groups',
  'tagDiscovery',
  'installHooks',
  'hookName',
  'heartbeatTimeout',
  'hookDefaultResult',
  'subnetIds',
  'securityGroupIds',
  'notifyEmail',
  'ssmDocument',
  'recheckSeconds',
];

// osls loads this file with require(); tsx's require compiles the TypeScript module.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS on purpose (above)
const budget = require('tsx/cjs/api').require('../lib/gate/budget.ts', __filename);

/**
 * AWS's guidance for an SQS event source: a queue visibility timeout of at least six times
 * the function's timeout, so that Lambda's retries of a throttled batch do not make a record
 * visible again while a step may still be running on it.
 */
const VISIBILITY_PER_FUNCTION_TIMEOUT = 6;

/** Where serverless.yml sets the numbers the heartbeat budget is computed from. */
const STACK_NUMBER_PATHS = {
  visibilityTimeoutSeconds: [
    'resources',
    '0',
    'Resources',
    'RecheckQueue',
    'Properties',
    'VisibilityTimeout',
  ],
  functionTimeoutSeconds: ['functions', 'gate', 'timeout'],
  batchSize: ['functions', 'gate', 'events', '1', 'sqs', 'batchSize'],
};

const ENABLED_TAG = 'themis:enabled';
const GROUP_NAME_TAG = 'aws:autoscaling:groupName';

function fail(name, detail) {
  throw new Error(`param "${name}": ${detail}`);
}

/** A comma-separated string (from --param) or a YAML list (from params:) → trimmed items. */
function list(name, value) {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  const trimmed = items.map((v) => v.trim()).filter((v) => v !== '');
  if (new Set(trimmed).size !== trimmed.length) fail(name, 'lists the same value twice');
  return trimmed;
}

function bool(name, value) {
  const v = String(value ?? '')
    .trim()
    .toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  return fail(name, `must be true or false, not "${value}"`);
}

function int(name, value, min, max) {
  const v = String(value ?? '').trim();
  if (!/^\d+$/.test(v)) fail(name, `must be a whole number, not "${value}"`);
  const n = Number(v);
  if (n < min || n > max) fail(name, `must be between ${min} and ${max}, not ${n}`);
  return n;
}

function oneOf(name, value, allowed) {
  const v = String(value ?? '').trim();
  if (!allowed.includes(v)) fail(name, `must be one of ${allowed.join(', ')}, not "${value}"`);
  return v;
}

function matching(name, values, pattern, what) {
  for (const v of values) if (!pattern.test(v)) fail(name, `"${v}" is not ${what}`);
  return values;
}

/**
 * Parse and cross-check the params this file builds resources from. `stack` holds the
 * numbers serverless.yml sets: the recheck queue's visibility timeout, the gate function's
 * timeout and the recheck queue's batch size (see STACK_NUMBER_PATHS).
 */
function parseParams(raw, stack) {
  const groups = list('groups', raw.groups);
  for (const g of groups) {
    // Auto Scaling group names: 1–255 characters; a group name ends up in ARNs and an
    // EventBridge pattern, so control characters, '*' and '/' are refused here.
    const control = [...g].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
    if (g.length > 255 || control || /[*/]/.test(g))
      fail('groups', `"${g}" is not a valid group name`);
  }
  const p = {
    groups,
    tagDiscovery: bool('tagDiscovery', raw.tagDiscovery),
    installHooks: bool('installHooks', raw.installHooks),
    hookName: String(raw.hookName ?? '').trim(),
    // Auto Scaling's limits: 30 s – 7200 s.
    heartbeatTimeout: int('heartbeatTimeout', raw.heartbeatTimeout, 30, 7200),
    hookDefaultResult: oneOf('hookDefaultResult', raw.hookDefaultResult, ['CONTINUE', 'ABANDON']),
    subnetIds: matching(
      'subnetIds',
      list('subnetIds', raw.subnetIds),
      /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/,
      'a subnet id',
    ),
    securityGroupIds: matching(
      'securityGroupIds',
      list('securityGroupIds', raw.securityGroupIds),
      /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/,
      'a security group id',
    ),
    notifyEmail: String(raw.notifyEmail ?? '').trim(),
    ssmDocument: String(raw.ssmDocument ?? '').trim(),
    // SQS DelaySeconds is at most 900 s; the gate refuses less than 5 s.
    recheckSeconds: int('recheckSeconds', raw.recheckSeconds, 5, 900),
  };
  if (!/^[A-Za-z0-9\-_/]{1,255}$/.test(p.hookName)) {
    fail('hookName', 'must be 1–255 letters, digits, "-", "_" or "/"');
  }
  p.heartbeatMarginSeconds = checkTiming(p, stack);
  if ((p.subnetIds.length === 0) !== (p.securityGroupIds.length === 0)) {
    fail(
      p.subnetIds.length ? 'securityGroupIds' : 'subnetIds',
      'subnetIds and securityGroupIds go together',
    );
  }
  if (p.notifyEmail && !/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/.test(p.notifyEmail)) {
    fail('notifyEmail', `"${p.notifyEmail}" is not an e-mail address`);
  }
  if (p.ssmDocument && !/^[A-Za-z0-9_\-.:/]{3,128}$/.test(p.ssmDocument)) {
    fail('ssmDocument', `"${p.ssmDocument}" is not an SSM document name`);
  }
  return p;
}

const sumText = ({ seconds, terms }) =>
  `${terms.map((t) => `${t.label}: ${t.seconds} s`).join(' + ')} = ${seconds} s`;

/**
 * The stack's timing, checked: SQS's visibility guidance, a function timeout that fits a
 * batch of worst-case steps (the largest probe a tag can ask for included), and a hook
 * HeartbeatTimeout longer than the heartbeat margin — the longest a busy instance can go
 * without a heartbeat when `budget.FAILED_STEPS_RIDDEN` steps in a row fail. Returns the
 * margin, which the gate receives as THEMIS_HEARTBEAT_MARGIN_SECONDS.
 */
function checkTiming(p, stack) {
  const timing = {
    recheckSeconds: p.recheckSeconds,
    functionTimeoutSeconds: stack.functionTimeoutSeconds,
    visibilityTimeoutSeconds: stack.visibilityTimeoutSeconds,
    maxProbeTimeoutMs: budget.MAX_PROBE_TIMEOUT_MS,
    failedStepsRidden: budget.FAILED_STEPS_RIDDEN,
    batchSize: stack.batchSize,
  };
  const minimumVisibility = VISIBILITY_PER_FUNCTION_TIMEOUT * timing.functionTimeoutSeconds;
  if (timing.visibilityTimeoutSeconds < minimumVisibility) {
    throw new Error(
      `serverless.yml: the recheck queue's VisibilityTimeout (${timing.visibilityTimeoutSeconds} s) ` +
        `must be at least ${VISIBILITY_PER_FUNCTION_TIMEOUT} × the gate function's timeout ` +
        `(${VISIBILITY_PER_FUNCTION_TIMEOUT} × ${timing.functionTimeoutSeconds} = ${minimumVisibility} s), ` +
        `as AWS advises for an SQS event source; shorter, a record is delivered again while its step may still run`,
    );
  }
  const functionNeeds = budget.requiredFunctionTimeoutSeconds(timing);
  if (timing.functionTimeoutSeconds < functionNeeds.seconds) {
    throw new Error(
      `serverless.yml: the gate function's timeout (${timing.functionTimeoutSeconds} s) is shorter ` +
        `than a batch of ${timing.batchSize} records needs: ${sumText(functionNeeds)}`,
    );
  }
  const hookNeeds = budget.requiredHeartbeatTimeoutSeconds(timing);
  if (p.heartbeatTimeout <= hookNeeds.seconds) {
    fail(
      'heartbeatTimeout',
      `must be longer than the gate's heartbeat margin, the longest a busy instance can go ` +
        `without a heartbeat when ${timing.failedStepsRidden} steps in a row fail ` +
        `(${sumText(hookNeeds)}), not ${p.heartbeatTimeout}`,
    );
  }
  return budget.heartbeatMarginSeconds(timing);
}

// ---------------------------------------------------------------------------------------
// ARNs. Partition, region and account come from the stack, never from params.

const sub = (s) => ({ 'Fn::Sub': s });
const PREFIX = (service) => `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}`;

/** A group's ARN has a UUID in it that changes when the group is recreated: match any. */
const groupArn = (name) =>
  sub(`${PREFIX('autoscaling')}:autoScalingGroup:*:autoScalingGroupName/${name}`);

/** Documents AWS owns (AWS-RunShellScript, …) have no account in their ARN. */
function documentArn(name) {
  if (name.startsWith('arn:')) return name;
  return name.startsWith('AWS-')
    ? sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}::document/${name}`)
    : sub(`${PREFIX('ssm')}:document/${name}`);
}

/**
 * Statements for lifecycle/protection mutations: the listed groups by ARN, and — with tag
 * discovery — any group, but only while it carries themis:enabled=true.
 */
function groupScoped(sid, actions, p) {
  const statements = [];
  if (p.groups.length) {
    statements.push({
      Sid: `${sid}ListedGroups`,
      Effect: 'Allow',
      Action: actions,
      Resource: p.groups.map(groupArn),
    });
  }
  if (p.tagDiscovery) {
    statements.push({
      Sid: `${sid}TaggedGroups`,
      Effect: 'Allow',
      Action: actions,
      Resource: groupArn('*'),
      Condition: { StringEquals: { [`autoscaling:ResourceTag/${ENABLED_TAG}`]: 'true' } },
    });
  }
  return statements;
}

function logStatement(logGroupLogicalId) {
  // The stack creates the log group, so the role needs no logs:CreateLogGroup.
  return {
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: { 'Fn::GetAtt': [logGroupLogicalId, 'Arn'] },
  };
}

function vpcStatement() {
  // What Lambda needs to attach the function to the VPC (the actions of the AWS-managed
  // AWSLambdaVPCAccessExecutionRole, without its account-wide logs grant). Lambda does not
  // support narrowing these to subnets for the execution role, hence '*'.
  return {
    Sid: 'AttachToVpc',
    Effect: 'Allow',
    Action: [
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
    ],
    Resource: '*',
  };
}

const inVpc = (p) => p.subnetIds.length > 0;

function protectStatements(p) {
  return [
    logStatement('ProtectLogGroup'),
    {
      Sid: 'ReadGroupsAndInstances',
      Effect: 'Allow',
      // Describe* calls support no resource-level permissions.
      Action: ['autoscaling:DescribeAutoScalingGroups', 'ec2:DescribeInstances'],
      Resource: '*',
    },
    ...groupScoped('SetProtection', ['autoscaling:SetInstanceProtection'], p),
    // Retained instances (Terminating:Retained) of the watched groups are terminated once
    // idle: nothing else ends them (lib/protect/retained.ts, docs/gate.md "Retention").
    ...groupScoped('TerminateRetained', ['autoscaling:TerminateInstanceInAutoScalingGroup'], p),
    {
      Sid: 'PublishRetainedReleases',
      Effect: 'Allow',
      Action: ['sns:Publish'],
      Resource: { Ref: 'OutcomeTopic' },
    },
    ...(inVpc(p) ? [vpcStatement()] : []),
  ];
}

function gateStatements(p) {
  const statements = [
    logStatement('GateLogGroup'),
    {
      Sid: 'ReadGroupsHooksAndInstances',
      Effect: 'Allow',
      Action: [
        'autoscaling:DescribeAutoScalingGroups',
        'autoscaling:DescribeLifecycleHooks',
        'ec2:DescribeInstances',
      ],
      Resource: '*',
    },
    ...groupScoped(
      'LifecycleActions',
      ['autoscaling:RecordLifecycleActionHeartbeat', 'autoscaling:CompleteLifecycleAction'],
      p,
    ),
    {
      Sid: 'PublishOutcomes',
      Effect: 'Allow',
      Action: ['sns:Publish'],
      Resource: { Ref: 'OutcomeTopic' },
    },
    {
      // SendMessage schedules rechecks; the rest is what the SQS event source mapping needs.
      Sid: 'UseRecheckQueue',
      Effect: 'Allow',
      Action: [
        'sqs:SendMessage',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
      ],
      Resource: { 'Fn::GetAtt': ['RecheckQueue', 'Arn'] },
    },
    {
      // The function's on-failure destination for direct (EventBridge) invocations.
      Sid: 'SendFailedEventsToDeadLetterQueue',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] },
    },
  ];
  if (p.ssmDocument) {
    statements.push(
      {
        Sid: 'RunConfiguredDocument',
        Effect: 'Allow',
        Action: ['ssm:SendCommand', 'ssm:DescribeDocument'],
        Resource: documentArn(p.ssmDocument),
      },
      p.groups.length && !p.tagDiscovery
        ? {
            // Instances launched by a group carry aws:autoscaling:groupName.
            Sid: 'RunOnGroupInstances',
            Effect: 'Allow',
            Action: ['ssm:SendCommand'],
            Resource: sub(`${PREFIX('ec2')}:instance/*`),
            Condition: { StringEquals: { [`ssm:resourceTag/${GROUP_NAME_TAG}`]: p.groups } },
          }
        : {
            // Tag-discovered groups are not known when the stack is built: any instance of
            // this account and region (the document is still the only one allowed).
            Sid: 'RunOnInstances',
            Effect: 'Allow',
            Action: ['ssm:SendCommand'],
            Resource: sub(`${PREFIX('ec2')}:instance/*`),
          },
      {
        // Supports no resource-level permissions.
        Sid: 'CheckInstancesAreManaged',
        Effect: 'Allow',
        Action: ['ssm:DescribeInstanceInformation'],
        Resource: '*',
      },
    );
  }
  // Whether or not a document is configured now: a command sent while one was is followed
  // to its end, or cancelled when the gate gives up on it, after the setting is removed
  // (docs/gate.md). Neither call supports resource-level permissions.
  statements.push({
    Sid: 'FollowCommandsInFlight',
    Effect: 'Allow',
    Action: ['ssm:GetCommandInvocation', 'ssm:CancelCommand'],
    Resource: '*',
  });
  if (inVpc(p)) statements.push(vpcStatement());
  return statements;
}

/** CloudFormation logical ids are alphanumeric; a short hash keeps "web-a" and "web_a" apart. */
function hookLogicalId(group) {
  let h = 2166136261;
  for (const c of group) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `LifecycleHook${group.replace(/[^A-Za-z0-9]/g, '').slice(0, 64)}${h.toString(16).padStart(8, '0')}`;
}

/**
 * The logical id osls gives the gate's EventBridge rule: derived from the function's full name
 * (themis-<stage>-gate) and the event's position. The packaging test fails if osls changes it.
 */
function gateRuleLogicalId(stage) {
  const alnum = `themis-${stage}-gate-rule-1`.replace(/[^0-9A-Za-z]/g, '');
  return `${alnum.charAt(0).toUpperCase()}${alnum.slice(1)}EventBridgeRule`;
}

function resources(p, stage) {
  const out = {
    ProtectRole: role(protectStatements(p)),
    GateRole: role(gateStatements(p)),
  };
  if (p.installHooks) {
    for (const group of p.groups) {
      out[hookLogicalId(group)] = {
        Type: 'AWS::AutoScaling::LifecycleHook',
        // Created after, and deleted before, the function and rule that answer it: a hook
        // without its gate would hold every terminating instance until the heartbeat timeout.
        DependsOn: ['GateLambdaFunction', gateRuleLogicalId(stage)],
        Properties: {
          AutoScalingGroupName: group,
          LifecycleHookName: p.hookName,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: p.heartbeatTimeout,
          DefaultResult: p.hookDefaultResult,
        },
      };
    }
  }
  if (p.notifyEmail) {
    out.OutcomeEmailSubscription = {
      Type: 'AWS::SNS::Subscription',
      Properties: { TopicArn: { Ref: 'OutcomeTopic' }, Protocol: 'email', Endpoint: p.notifyEmail },
    };
  }
  return { Resources: out };
}

function eventPattern(p) {
  const detail = { LifecycleHookName: [p.hookName] };
  // Only themis's hook: another tool's hook on the same group is not ours to complete.
  // Listed groups narrow it further, unless tag discovery may add groups the stack cannot name.
  if (p.groups.length && !p.tagDiscovery) detail.AutoScalingGroupName = p.groups;
  return {
    source: ['aws.autoscaling'],
    'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
    detail,
  };
}

module.exports = async ({ resolveVariable, resolveConfigurationProperty }) => {
  const raw = {};
  for (const name of PARAM_NAMES) raw[name] = await resolveVariable(`param:${name}`);
  const stack = {};
  for (const [name, path] of Object.entries(STACK_NUMBER_PATHS)) {
    const value = Number(await resolveConfigurationProperty(path));
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`serverless.yml: ${path.join('.')} must be set to a whole number`);
    }
    stack[name] = value;
  }
  const p = parseParams(raw, stack);
  const stage = await resolveVariable('sls:stage');
  // Names built from the stage must fit AWS's limits: the rule name
  // (themis-<stage>-lifecycle-action) has 64 characters at most.
  if (!/^[A-Za-z0-9-]{1,40}$/.test(stage)) {
    throw new Error(`stage "${stage}": use at most 40 letters, digits and "-"`);
  }
  // ECS mode and the opt-in scale function (deploy/ecs.cjs).
  const ecs = parseEcsParams({
    clustersFile: await resolveVariable('param:clustersFile'),
    ecsClusters: await resolveVariable('param:ecsClusters'),
  });
  return {
    targets: JSON.stringify(p.groups.map((asgName) => ({ asgName }))),
    scaleFunction: scaleFunction(ecs),
    tagDiscovery: String(p.tagDiscovery),
    // null: the functions run outside any VPC (osls drops VpcConfig).
    vpc: inVpc(p) ? { subnetIds: p.subnetIds, securityGroupIds: p.securityGroupIds } : null,
    eventPattern: eventPattern(p),
    gateRuleLogicalId: gateRuleLogicalId(stage),
    heartbeatMarginSeconds: String(p.heartbeatMarginSeconds),
    resources: addEcsResources(resources(p, stage), ecs, inVpc(p) ? vpcStatement() : undefined),
  };
};

// For the packaging tests.
module.exports.parseParams = parseParams;
