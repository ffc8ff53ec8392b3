/**
 * Fake AWS SDK clients over the simulated world: objects that *are* SDK clients to the code
 * using them (`instanceof AutoScalingClient`, so the SDK's paginators accept them) and whose
 * `send(command, { abortSignal })` answers the commands themis's adapters (lib/aws/*) send —
 * with the SDK's output shapes and AWS's error names and messages — from the fleet model,
 * the recheck queue, the topic and the SSM model, through sdk.ts (latency, throttling,
 * outages, retries, abort) in virtual time. Every history therefore runs the real adapters.
 *
 * A command themis does not send gets a loud error: the model must grow with the adapters.
 */
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CancelCommandCommand,
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import type { AwsClients } from '../lib/aws/clients.js';
import {
  DEFAULT_RECORDS_PER_PAGE,
  DEFAULT_SSM_TIMEOUT_SECONDS,
  MAX_DELAY_SECONDS,
  MAX_RECORDS_PER_PAGE,
  MAX_SUBJECT_CHARS,
  RETAIN_ON_ABANDON,
} from '../lib/aws/facts.js';
import type { Notice } from '../lib/ports.js';
import { SimAwsError, validationError } from './aws-error.js';
import type { Fleet } from './fleet.js';
import type { Journal } from './journal.js';
import { sdkCall, type CallEnv, type Service } from './sdk.js';
import type { PublishedNotice, SimCommands } from './services.js';

/** Where the fake clients send what they are asked to. */
export interface AwsModel {
  fleet: Fleet;
  commands: SimCommands;
  journal: Journal;
  /** SQS SendMessage to `queueUrl`; throws a SimAwsError for an unknown queue. */
  sendMessage(queueUrl: string, body: string, delaySeconds: number): string;
  /** SNS Publish (after validation). */
  published: PublishedNotice[];
  topicArn: string;
  now(): number;
  /** After a SetInstanceProtection took effect. */
  onProtection?(instanceIds: readonly string[], protect: boolean, by: CallEnv['owner']): void;
  /** After a CompleteLifecycleAction ended an action. */
  onComplete?(instanceId: string, by: CallEnv['owner']): void;
  /** A TerminateInstanceInAutoScalingGroup that Auto Scaling accepted (retention's release). */
  onTerminate?(instanceId: string, by: CallEnv['owner']): void;
}

type Command = { input: Record<string, unknown> } & object;
type Handler = (input: never) => unknown;
/** A command's class (the map key a command's constructor is looked up by). */
export type CommandClass = abstract new (...args: never[]) => object;

export interface Route {
  service: Service;
  api: string;
  handle: Handler;
}

const INSTANCE_ID = /\bi-[0-9a-f]{8,17}\b/;

export function fakeClient<T extends object>(
  ctor: { prototype: T },
  env: CallEnv,
  routes: Map<CommandClass, Route>,
): T {
  const client = Object.create(ctor.prototype as object) as T & {
    send: (command: Command, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;
    destroy: () => void;
  };
  client.send = (command, options) => {
    const route = routes.get(command.constructor as CommandClass);
    if (!route) {
      return Promise.reject(
        new Error(`the simulator does not model ${command.constructor.name}: add it to sim/aws.ts`),
      );
    }
    const input = command.input as never;
    return sdkCall(env, route.service, route.api, () => route.handle(input), options?.abortSignal);
  };
  client.destroy = () => undefined;
  return client;
}

/** One set of clients (one Lambda container's), all answering from `model`. */
export function createFakeClients(model: AwsModel, env: CallEnv): AwsClients {
  const { fleet } = model;
  const routes = new Map<CommandClass, Route>();
  const route = <I>(
    ctor: CommandClass,
    service: Service,
    api: string,
    handle: (input: I) => unknown,
  ) => routes.set(ctor, { service, api, handle: handle as Handler });

  // --- Auto Scaling -------------------------------------------------------------------
  route<{
    AutoScalingGroupNames?: string[];
    Filters?: Array<{ Name?: string; Values?: string[] }>;
    MaxRecords?: number;
    NextToken?: string;
  }>(DescribeAutoScalingGroupsCommand, 'autoscaling', 'DescribeAutoScalingGroups', (input) => {
    const max = input.MaxRecords ?? DEFAULT_RECORDS_PER_PAGE;
    if (max < 1 || max > MAX_RECORDS_PER_PAGE) {
      throw validationError(
        `1 validation error detected: Value '${max}' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to ${MAX_RECORDS_PER_PAGE}`,
      );
    }
    let groups = input.AutoScalingGroupNames
      ? fleet.describeGroups(input.AutoScalingGroupNames)
      : fleet.describeGroups(fleet.groupNames());
    for (const f of input.Filters ?? []) {
      const tag = /^tag:(.+)$/.exec(f.Name ?? '');
      if (tag) groups = groups.filter((g) => (f.Values ?? []).includes(g.tags[tag[1]!] ?? '\0'));
    }
    const from = Number(input.NextToken ?? 0);
    const page = groups.slice(from, from + max);
    return {
      AutoScalingGroups: page.map((g) => ({
        AutoScalingGroupName: g.name,
        AutoScalingGroupARN: g.arn,
        MinSize: fleet.limitsOf(g.name).minSize,
        MaxSize: fleet.limitsOf(g.name).maxSize,
        DesiredCapacity: fleet.desiredCapacity(g.name),
        Instances: g.instances.map((i) => ({
          InstanceId: i.instanceId,
          AvailabilityZone: i.availabilityZone,
          LifecycleState: i.lifecycleState,
          HealthStatus: i.healthStatus,
          ProtectedFromScaleIn: i.protectedFromScaleIn,
        })),
        Tags: Object.entries(g.tags).map(([Key, Value]) => ({
          Key,
          Value,
          ResourceId: g.name,
          ResourceType: 'auto-scaling-group',
          PropagateAtLaunch: false,
        })),
        ...(g.retainsOnAbandon
          ? {
              InstanceLifecyclePolicy: {
                RetentionTriggers: { TerminateHookAbandon: RETAIN_ON_ABANDON },
              },
            }
          : {}),
      })),
      ...(from + max < groups.length ? { NextToken: String(from + max) } : {}),
    };
  });
  route<{ AutoScalingGroupName: string; InstanceIds: string[]; ProtectedFromScaleIn: boolean }>(
    SetInstanceProtectionCommand,
    'autoscaling',
    'SetInstanceProtection',
    (input) => {
      fleet.setInstanceProtection(
        input.AutoScalingGroupName,
        input.InstanceIds,
        input.ProtectedFromScaleIn,
      );
      model.onProtection?.(input.InstanceIds, input.ProtectedFromScaleIn, env.owner);
      return {};
    },
  );
  route<{ AutoScalingGroupName: string; DesiredCapacity: number }>(
    SetDesiredCapacityCommand,
    'autoscaling',
    'SetDesiredCapacity',
    (input) => {
      if (fleet.describeGroups([input.AutoScalingGroupName]).length === 0) {
        throw validationError(`AutoScalingGroup name not found - ${input.AutoScalingGroupName}`);
      }
      const { minSize, maxSize } = fleet.limitsOf(input.AutoScalingGroupName);
      if (input.DesiredCapacity < minSize || input.DesiredCapacity > maxSize) {
        throw validationError(
          `New SetDesiredCapacity value ${input.DesiredCapacity} is ${input.DesiredCapacity < minSize ? 'below min' : 'above max'} value ${input.DesiredCapacity < minSize ? minSize : maxSize} for the AutoScalingGroup.`,
        );
      }
      fleet.setDesiredCapacity(input.AutoScalingGroupName, input.DesiredCapacity);
      return {};
    },
  );
  route<{ InstanceId: string; ShouldDecrementDesiredCapacity: boolean }>(
    TerminateInstanceInAutoScalingGroupCommand,
    'autoscaling',
    'TerminateInstanceInAutoScalingGroup',
    (input) => {
      fleet.terminateInstance(input.InstanceId, input.ShouldDecrementDesiredCapacity);
      model.onTerminate?.(input.InstanceId, env.owner);
      return {
        Activity: { ActivityId: `terminate-${input.InstanceId}`, StatusCode: 'InProgress' },
      };
    },
  );
  type ActionInput = {
    AutoScalingGroupName: string;
    LifecycleHookName: string;
    LifecycleActionToken?: string;
    InstanceId?: string;
  };
  const ref = (input: ActionInput) => ({
    groupName: input.AutoScalingGroupName,
    hookName: input.LifecycleHookName,
    instanceId: input.InstanceId ?? '',
    ...(input.LifecycleActionToken ? { token: input.LifecycleActionToken } : {}),
  });
  route<ActionInput>(
    RecordLifecycleActionHeartbeatCommand,
    'autoscaling',
    'RecordLifecycleActionHeartbeat',
    (input) => {
      fleet.recordLifecycleActionHeartbeat(ref(input));
      return {};
    },
  );
  route<ActionInput & { LifecycleActionResult: string }>(
    CompleteLifecycleActionCommand,
    'autoscaling',
    'CompleteLifecycleAction',
    (input) => {
      const action = fleet.completeLifecycleAction(
        ref(input),
        input.LifecycleActionResult as 'CONTINUE',
      );
      model.onComplete?.(action.instanceId, env.owner);
      return {};
    },
  );
  // Group tags (the launch gate's abandon count): one group, one key per tag here.
  type TagInput = { Tags: Array<{ ResourceId: string; Key: string; Value?: string }> };
  route<TagInput>(CreateOrUpdateTagsCommand, 'autoscaling', 'CreateOrUpdateTags', (input) => {
    for (const t of input.Tags) fleet.writeTag(t.ResourceId, t.Key, t.Value ?? '');
    return {};
  });
  route<TagInput>(DeleteTagsCommand, 'autoscaling', 'DeleteTags', (input) => {
    for (const t of input.Tags) fleet.writeTag(t.ResourceId, t.Key, undefined);
    return {};
  });
  route<{ AutoScalingGroupName: string; LifecycleHookNames?: string[] }>(
    DescribeLifecycleHooksCommand,
    'autoscaling',
    'DescribeLifecycleHooks',
    (input) => {
      const hooks = (input.LifecycleHookNames ?? [])
        .map((name) => fleet.describeLifecycleHook(input.AutoScalingGroupName, name))
        .filter((h) => h !== undefined);
      return {
        LifecycleHooks: hooks.map((h) => ({
          LifecycleHookName: h.hookName,
          AutoScalingGroupName: h.groupName,
          LifecycleTransition: h.transition,
          HeartbeatTimeout: h.heartbeatTimeoutSeconds,
          GlobalTimeout: h.globalTimeoutSeconds,
          DefaultResult: h.defaultResult,
          ...(h.notificationMetadata !== undefined
            ? { NotificationMetadata: h.notificationMetadata }
            : {}),
        })),
      };
    },
  );

  // --- EC2 ----------------------------------------------------------------------------
  route<{
    Filters?: Array<{ Name?: string; Values?: string[] }>;
    InstanceIds?: string[];
    MaxResults?: number;
    NextToken?: string;
  }>(DescribeInstancesCommand, 'ec2', 'DescribeInstances', (input) => {
    const filter = input.Filters?.find((f) => f.Name === 'instance-id');
    const values = filter?.Values ?? input.InstanceIds ?? [];
    if (values.length > 200) {
      throw new SimAwsError(
        'FilterLimitExceeded',
        'The maximum number of filter values specified on a single call is 200',
      );
    }
    const ids = values.filter((id) => fleet.instance(id));
    const max = input.MaxResults ?? 1000;
    const from = Number(input.NextToken ?? 0);
    const page = ids.slice(from, from + max);
    return {
      Reservations: page.map((id) => {
        const inst = fleet.instance(id)!;
        const gone = inst.lifecycleState === 'Terminated';
        return {
          Instances: [
            {
              InstanceId: id,
              PrivateIpAddress: inst.address,
              State: { Name: gone ? 'terminated' : 'running' },
            },
          ],
        };
      }),
      ...(from + max < ids.length ? { NextToken: String(from + max) } : {}),
    };
  });

  // --- SQS ----------------------------------------------------------------------------
  const delayOf = (d: number | undefined) => {
    const delay = d ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      throw new SimAwsError(
        'InvalidParameterValue',
        `Value ${delay} for parameter DelaySeconds is invalid. Reason: must be between 0 and ${MAX_DELAY_SECONDS}, if provided.`,
      );
    }
    return delay;
  };
  route<{ QueueUrl: string; MessageBody: string; DelaySeconds?: number }>(
    SendMessageCommand,
    'sqs',
    'SendMessage',
    (input) => ({
      MessageId: model.sendMessage(input.QueueUrl, input.MessageBody, delayOf(input.DelaySeconds)),
    }),
  );
  route<{
    QueueUrl: string;
    Entries: Array<{ Id: string; MessageBody: string; DelaySeconds?: number }>;
  }>(SendMessageBatchCommand, 'sqs', 'SendMessageBatch', (input) => ({
    Successful: input.Entries.map((e) => ({
      Id: e.Id,
      MessageId: model.sendMessage(input.QueueUrl, e.MessageBody, delayOf(e.DelaySeconds)),
    })),
    Failed: [],
  }));

  // --- SNS ----------------------------------------------------------------------------
  route<{
    TopicArn: string;
    Subject?: string;
    Message: string;
    MessageAttributes?: Record<string, { DataType: string; StringValue?: string }>;
  }>(PublishCommand, 'sns', 'Publish', (input) => {
    if (input.TopicArn !== model.topicArn) {
      throw new SimAwsError('NotFoundException', 'Topic does not exist');
    }
    const subject = input.Subject ?? '';
    // Fewer than 100 characters (MAX_SUBJECT_CHARS reads it strictly), one line, printable.
    // eslint-disable-next-line no-control-regex -- SNS's rule is about control characters
    if (subject.length > MAX_SUBJECT_CHARS || /[\u0000-\u001f]/.test(subject)) {
      throw new SimAwsError('InvalidParameter', 'Invalid parameter: Subject');
    }
    if (!input.Message)
      throw new SimAwsError('InvalidParameter', 'Invalid parameter: Empty message');
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.MessageAttributes ?? {})) {
      if (v.StringValue === undefined || v.StringValue === '') {
        throw new SimAwsError(
          'InvalidParameterValue',
          `The message attribute '${k}' must contain non-empty message attribute value.`,
        );
      }
      attributes[k] = v.StringValue;
    }
    const notice: Notice = { subject, message: input.Message, attributes };
    const instanceId = INSTANCE_ID.exec(input.Message)?.[0];
    model.published.push({
      at: model.now(),
      notice,
      delivered: true,
      ...(instanceId ? { instanceId } : {}),
    });
    model.journal.add('notice', subject, {
      ...(instanceId ? { instanceId } : {}),
      ...(attributes.group ? { group: attributes.group } : {}),
      data: { event: attributes.event },
    });
    return { MessageId: `sns-${model.published.length}` };
  });

  // --- SSM ----------------------------------------------------------------------------
  const { commands } = model;
  route<{ Name: string }>(DescribeDocumentCommand, 'ssm', 'DescribeDocument', (input) => {
    if (!commands.documentExists(input.Name)) {
      throw new SimAwsError('InvalidDocument', `Document with name ${input.Name} does not exist.`);
    }
    return { Document: { Name: input.Name, Status: 'Active' } };
  });
  route<{ Filters?: Array<{ Key: string; Values: string[] }> }>(
    DescribeInstanceInformationCommand,
    'ssm',
    'DescribeInstanceInformation',
    (input) => {
      const ids = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
      return {
        InstanceInformationList: ids
          .filter((id) => commands.isManaged(id))
          .map((InstanceId) => ({ InstanceId, PingStatus: 'Online' })),
      };
    },
  );
  route<{
    DocumentName: string;
    InstanceIds: string[];
    TimeoutSeconds?: number;
    Parameters?: Record<string, string[]>;
  }>(SendCommandCommand, 'ssm', 'SendCommand', (input) => {
    const [instanceId] = input.InstanceIds;
    return {
      Command: {
        CommandId: commands.send(
          instanceId ?? '',
          input.DocumentName,
          input.TimeoutSeconds ?? DEFAULT_SSM_TIMEOUT_SECONDS,
          input.Parameters ?? {},
        ),
      },
    };
  });
  route<{ CommandId: string; InstanceId: string }>(
    GetCommandInvocationCommand,
    'ssm',
    'GetCommandInvocation',
    (input) => {
      const s = commands.status(input.CommandId, input.InstanceId);
      const status =
        s.state === 'pending'
          ? 'InProgress'
          : s.state === 'success'
            ? 'Success'
            : s.detail === 'TimedOut'
              ? 'TimedOut'
              : s.detail === 'Cancelled'
                ? 'Cancelled'
                : 'Failed';
      return {
        Status: status,
        StatusDetails: status,
        ...(status === 'Failed' ? { StandardErrorContent: s.detail ?? '' } : {}),
      };
    },
  );
  route<{ CommandId: string; InstanceIds?: string[] }>(
    CancelCommandCommand,
    'ssm',
    'CancelCommand',
    (input) => {
      commands.cancel(input.CommandId);
      return {};
    },
  );

  return {
    autoScaling: fakeClient(AutoScalingClient, env, routes),
    ec2: fakeClient(EC2Client, env, routes),
    sns: fakeClient(SNSClient, env, routes),
    sqs: fakeClient(SQSClient, env, routes),
    ssm: fakeClient(SSMClient, env, routes),
  };
}
