/**
 * The gate's AWS side on moto_server, for the over-the-wire gate tests: a loopback group
 * with a terminating hook, the recheck queue, and the outcome topic read back through a
 * subscribed SQS queue; and the middleware that answers, in AWS's place, the calls moto does
 * not implement (RecordLifecycleActionHeartbeat, CompleteLifecycleAction,
 * ssm:DescribeInstanceInformation — see docs/aws.md), recording what the adapter asked.
 */
import { PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import type { Message } from '@aws-sdk/client-sqs';
import { TERMINATING } from '../../lib/aws/facts.js';
import { createQueue } from '../gate/sqs-wire.js';
import { createLoopbackFleet, type Moto, type MotoClients, type MotoFleet } from './moto.js';

export interface Intercepted {
  command: string;
  input: Record<string, unknown>;
}

/**
 * Answer `commands` in the service's place (moto lacks them) and record what was asked.
 * Added at the `initialize` step, so the adapter's request is complete but never serialised.
 */
export function intercept(
  client: { middlewareStack: { add: (...args: never[]) => void } },
  answers: Record<string, () => unknown>,
): Intercepted[] {
  const calls: Intercepted[] = [];
  const middleware =
    (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: object }) => {
      const answer = context.commandName ? answers[context.commandName] : undefined;
      if (!answer) return next(args);
      calls.push({
        command: context.commandName!.replace(/Command$/, ''),
        input: structuredClone(args.input) as Record<string, unknown>,
      });
      return { output: { $metadata: {}, ...(answer() as object) }, response: {} };
    };
  (client.middlewareStack.add as (m: unknown, o: unknown) => void)(middleware, {
    step: 'initialize',
    name: 'themisTestInterceptor',
  });
  return calls;
}

/** Lifecycle heartbeats and completions, answered and recorded (moto has neither). */
export function interceptLifecycleActions(clients: MotoClients): Intercepted[] {
  return intercept(clients.autoScaling, {
    RecordLifecycleActionHeartbeatCommand: () => ({}),
    CompleteLifecycleActionCommand: () => ({}),
  });
}

export interface Queue {
  url: string;
  arn: string;
}

/** An SNS topic whose notices land in an SQS queue (`inbox`), to be read back. */
export async function createOutcomeTopic(
  clients: MotoClients,
  name: string,
): Promise<{ topicArn: string; inbox: Queue }> {
  const inbox = await createQueue(clients.sqs, `${name}-inbox`);
  const topicArn = (await clients.sns.send(new CreateTopicCommand({ Name: `${name}-outcomes` })))
    .TopicArn!;
  await clients.sns.send(
    new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: inbox.arn }),
  );
  return { topicArn, inbox };
}

export interface GateWireStack {
  fleet: MotoFleet;
  /** The group's one instance, on a loopback address of its own. */
  instanceId: string;
  rechecks: Queue;
  topicArn: string;
  inbox: Queue;
}

/** One loopback instance in group `name` with terminating hook `hook`, and the gate's queue and topic. */
export async function createGateWireStack(
  moto: Moto,
  clients: MotoClients,
  options: {
    name: string;
    hook: string;
    heartbeatTimeoutSeconds: number;
    tags?: Record<string, string>;
  },
): Promise<GateWireStack> {
  const fleet = await createLoopbackFleet(moto, {
    groupName: options.name,
    size: 1,
    ...(options.tags ? { tags: options.tags } : {}),
  });
  await clients.autoScaling.send(
    new PutLifecycleHookCommand({
      AutoScalingGroupName: fleet.groupName,
      LifecycleHookName: options.hook,
      LifecycleTransition: TERMINATING,
      HeartbeatTimeout: options.heartbeatTimeoutSeconds,
      DefaultResult: 'CONTINUE',
    }),
  );
  const rechecks = await createQueue(clients.sqs, `${options.name}-rechecks`);
  const { topicArn, inbox } = await createOutcomeTopic(clients, options.name);
  return { fleet, instanceId: fleet.instanceIds[0]!, rechecks, topicArn, inbox };
}

export interface Notice {
  subject: string;
  message: string;
  /** The notice's message attributes (event, group, outcome-id, …). */
  attributes: Record<string, string>;
}

/** SNS → SQS delivery (raw delivery off): each body is the SNS envelope. */
export function snsNotices(messages: Message[]): Notice[] {
  return messages.map((m) => {
    const envelope = JSON.parse(m.Body!) as {
      Subject: string;
      Message: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
    return {
      subject: envelope.Subject,
      message: envelope.Message,
      attributes: Object.fromEntries(
        Object.entries(envelope.MessageAttributes).map(([k, v]) => [k, v.Value]),
      ),
    };
  });
}
