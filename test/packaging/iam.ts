/**
 * Reading IAM out of a generated template: every statement of every role and policy, and the
 * allow-list the packaging test holds them to.
 */
import type { Template } from './package-stack.js';

export interface Statement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface OwnedStatement {
  /** Logical id of the role or policy that holds the statement. */
  owner: string;
  statement: Statement;
}

/** Read-only calls that support no resource-level permissions: allowed on '*'. */
export const READ_ONLY_ON_ANY = [
  'autoscaling:DescribeAutoScalingGroups',
  'autoscaling:DescribeLifecycleHooks',
  'ec2:DescribeInstances',
  'ssm:GetCommandInvocation',
  'ssm:DescribeInstanceInformation',
];

/**
 * Writes that support no resource-level permissions, allowed on '*' each for a reason:
 * ssm:CancelCommand — the gate cancels a pre-termination command it gives up on, also after
 * the document setting was removed (so it is granted to every stack).
 */
export const UNSCOPABLE_WRITES = ['ssm:CancelCommand'];

/** What Lambda itself needs to attach a function to a VPC: also on '*', and only with a VPC. */
export const VPC_ATTACHMENT = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/** Everything else themis may do, each only on named resources. */
export const SCOPED = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'autoscaling:SetInstanceProtection',
  'autoscaling:TerminateInstanceInAutoScalingGroup',
  'autoscaling:RecordLifecycleActionHeartbeat',
  'autoscaling:CompleteLifecycleAction',
  'sns:Publish',
  'sqs:SendMessage',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'ssm:SendCommand',
  'ssm:DescribeDocument',
  // launchHooks=true only: the launch gate's abandon count, one tag key (aws:TagKeys).
  'autoscaling:CreateOrUpdateTags',
  'autoscaling:DeleteTags',
];

export const ALLOWED_ACTIONS = new Set([
  ...READ_ONLY_ON_ANY,
  ...UNSCOPABLE_WRITES,
  ...VPC_ATTACHMENT,
  ...SCOPED,
]);

/** Statements of inline role policies, AWS::IAM::Policy and AWS::IAM::ManagedPolicy. */
export function iamStatements(template: Template): OwnedStatement[] {
  const out: OwnedStatement[] = [];
  const collect = (owner: string, document: unknown) => {
    const statements = (document as { Statement?: Statement | Statement[] } | undefined)?.Statement;
    for (const statement of [statements ?? []].flat()) out.push({ owner, statement });
  };
  for (const [id, r] of Object.entries(template.Resources)) {
    const p = (r.Properties ?? {}) as Record<string, unknown>;
    if (r.Type === 'AWS::IAM::Role') {
      for (const policy of (p.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
        collect(id, policy.PolicyDocument);
      }
    } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      collect(id, p.PolicyDocument);
    }
  }
  return out;
}

export function roleStatements(template: Template, roleId: string): Statement[] {
  return iamStatements(template)
    .filter((s) => s.owner === roleId)
    .map((s) => s.statement);
}

export function actionsOf(statement: Statement): string[] {
  return [statement.Action ?? []].flat();
}

export function resourcesOf(statement: Statement): unknown[] {
  return [statement.Resource ?? []].flat();
}

/** Every action the role is granted, sorted. */
export function grantedActions(template: Template, roleId: string): string[] {
  return [...new Set(roleStatements(template, roleId).flatMap(actionsOf))].sort();
}

/** The text of an ARN written as a string or `{ "Fn::Sub": "…" }`. */
export function arnText(resource: unknown): string | undefined {
  if (typeof resource === 'string') return resource;
  const sub = (resource as Record<string, unknown> | null)?.['Fn::Sub'];
  return typeof sub === 'string' ? sub : undefined;
}
