/**
 * The stack's least-privilege roles, generated because their statements depend on the params:
 * the groups by ARN, tag discovery as a condition, the SSM document, the VPC. ARNs take the
 * partition, region and account from the stack, never from params.
 */
import { ENABLED_TAG } from '../lib/config.js';
import { LAUNCH_ABANDONS_TAG } from '../lib/gate/launch.js';
import type { DeployParams } from './params.js';

export interface Statement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** What Auto Scaling tags each instance of a group with (SSM's instance condition). */
const GROUP_NAME_TAG = 'aws:autoscaling:groupName';

export const sub = (s: string) => ({ 'Fn::Sub': s });

/** `arn:<partition>:<service>:<region>:<account>` of the stack. */
export const arnPrefix = (service: string) =>
  `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}`;

/** A group's ARN has a UUID in it that changes when the group is recreated: match any. */
export const groupArn = (name: string) =>
  sub(`${arnPrefix('autoscaling')}:autoScalingGroup:*:autoScalingGroupName/${name}`);

/** Documents AWS owns (AWS-RunShellScript, …) have no account in their ARN. */
function documentArn(name: string) {
  if (name.startsWith('arn:')) return name;
  return name.startsWith('AWS-')
    ? sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}::document/${name}`)
    : sub(`${arnPrefix('ssm')}:document/${name}`);
}

/**
 * A CloudFormation logical id for a resource per group: alphanumeric, with a short hash of
 * the name so that "web-a" and "web_a" stay apart.
 */
export function perGroupLogicalId(prefix: string, group: string): string {
  let h = 2166136261;
  for (const c of group) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `${prefix}${group.replace(/[^A-Za-z0-9]/g, '').slice(0, 64)}${h.toString(16).padStart(8, '0')}`;
}

/** A Lambda execution role with one inline policy. */
export function role(statements: Statement[]) {
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

/** The stack creates each function's log group, so no role needs logs:CreateLogGroup. */
export function logStatement(logGroupLogicalId: string): Statement {
  return {
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: { 'Fn::GetAtt': [logGroupLogicalId, 'Arn'] },
  };
}

/**
 * What Lambda needs to attach a function to the VPC (the actions of the AWS-managed
 * AWSLambdaVPCAccessExecutionRole, without its account-wide logs grant). Lambda does not
 * support narrowing these to subnets for the execution role, hence '*'.
 */
export const VPC_STATEMENT: Statement = {
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

export const inVpc = (p: DeployParams) => p.subnetIds.length > 0;

/**
 * Lifecycle/protection mutations: the listed groups by ARN, and — with tag discovery — any
 * group, but only while it carries themis:enabled=true.
 */
function groupScoped(sid: string, actions: string[], p: DeployParams): Statement[] {
  const statements: Statement[] = [];
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

export function protectStatements(p: DeployParams): Statement[] {
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
    {
      // A released notice SNS refused goes to the gate's recheck queue; the gate publishes it.
      Sid: 'QueueRetainedReleases',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: { 'Fn::GetAtt': ['RecheckQueue', 'Arn'] },
    },
    ...(inVpc(p) ? [VPC_STATEMENT] : []),
  ];
}

export function gateStatements(p: DeployParams): Statement[] {
  const statements: Statement[] = [
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
    // The launch gate counts abandons in a row in one tag of the group, and only that tag.
    ...(p.launchHooks
      ? groupScoped(
          'CountLaunchAbandons',
          ['autoscaling:CreateOrUpdateTags', 'autoscaling:DeleteTags'],
          p,
        ).map((st) => ({
          ...st,
          Condition: {
            ...st.Condition,
            'ForAllValues:StringEquals': { 'aws:TagKeys': [LAUNCH_ABANDONS_TAG] },
          },
        }))
      : []),
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
            Resource: sub(`${arnPrefix('ec2')}:instance/*`),
            Condition: { StringEquals: { [`ssm:resourceTag/${GROUP_NAME_TAG}`]: p.groups } },
          }
        : {
            // Tag-discovered groups are not known when the stack is built: any instance of
            // this account and region (the document is still the only one allowed).
            Sid: 'RunOnInstances',
            Effect: 'Allow',
            Action: ['ssm:SendCommand'],
            Resource: sub(`${arnPrefix('ec2')}:instance/*`),
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
  if (inVpc(p)) statements.push(VPC_STATEMENT);
  return statements;
}
