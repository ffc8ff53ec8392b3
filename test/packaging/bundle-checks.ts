/**
 * The packaged zips, run for real: each function's bundle is unzipped, imported by plain Node
 * as Lambda would, and invoked with the environment the template gives it — references to
 * the stack's queue and topic replaced by the same resources created in moto_server, AWS
 * pointed at moto through AWS_ENDPOINT_URL, and instances on loopback (127.0.1.x) answering
 * from real HTTP workers.
 */
import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  DescribeAutoScalingGroupsCommand,
  PutLifecycleHookCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { rm } from 'node:fs/promises';
import { expect } from 'chai';
import { lifecycleEvent } from '../helpers/events.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { createLoopbackFleet, startMoto, type Moto } from '../helpers/moto.js';
import { props, resource, refersTo, type PackagedStack, type Template } from './package-stack.js';
import { invokeBundle, unzipArtefact, type BundleRun } from './run-bundle.js';

/** The function's environment from the template, with stack references resolved by `refs`. */
export function functionEnv(
  template: Template,
  functionId: string,
  refs: Record<string, string>,
): Record<string, string> {
  const variables =
    (props(resource(template, functionId)).Environment as { Variables?: Record<string, unknown> })
      ?.Variables ?? {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') {
      out[name] = value;
      continue;
    }
    const target = refersTo(value);
    const resolved = target === undefined ? undefined : refs[target];
    if (resolved === undefined) {
      throw new Error(`${functionId} ${name}: no stand-in for ${JSON.stringify(value)}`);
    }
    out[name] = resolved;
  }
  return out;
}

/** What Lambda itself provides, aimed at moto; the loopback rule for the probes. */
function lambdaEnv(moto: Moto): Record<string, string> {
  return {
    AWS_REGION: moto.region,
    AWS_DEFAULT_REGION: moto.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    THEMIS_LOOPBACK_ONLY: '1',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
}

/** The stack's queue and topic, created in moto under the names the template gives them. */
async function standIns(moto: Moto, template: Template): Promise<Record<string, string>> {
  const sqs = new SQSClient(moto.clientConfig);
  const sns = new SNSClient(moto.clientConfig);
  try {
    const queueName = props(resource(template, 'RecheckQueue')).QueueName as string;
    const topicName = props(resource(template, 'OutcomeTopic')).TopicName as string;
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    const topic = await sns.send(new CreateTopicCommand({ Name: topicName }));
    return { RecheckQueue: queue.QueueUrl!, OutcomeTopic: topic.TopicArn! };
  } finally {
    sqs.destroy();
    sns.destroy();
  }
}

async function tagMetricsPort(asg: AutoScalingClient, group: string, port: number) {
  await asg.send(
    new CreateOrUpdateTagsCommand({
      Tags: [
        {
          ResourceId: group,
          ResourceType: 'auto-scaling-group',
          Key: 'themis:metrics-port',
          Value: String(port),
          PropagateAtLaunch: false,
        },
      ],
    }),
  );
}

function explain(run: BundleRun): string {
  return `error: ${JSON.stringify(run.error)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

const SCHEDULED_EVENT = {
  version: '0',
  id: '5f3c1b2a-0000-4000-8000-000000000001',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/themis-ci-protect'],
  detail: {},
};

/**
 * protect, as packaged with tag discovery: a moto group tagged themis:enabled=true whose
 * instances answer BUSY and IDLE. After one invocation the busy one is protected and the idle
 * one (protected beforehand) is not.
 */
export async function exerciseProtectBundle(stack: PackagedStack): Promise<void> {
  const moto = await startMoto();
  const workers: Worker[] = [];
  let taskDir: string | undefined;
  const asg = new AutoScalingClient(moto.clientConfig);
  try {
    const fleet = await createLoopbackFleet(moto, {
      groupName: 'themis-bundle-protect',
      size: 2,
      tags: { 'themis:enabled': 'true' },
    });
    const [busyId, idleId] = fleet.instanceIds as [string, string];
    // Every worker of the group on one port: the group's themis:metrics-port tag says which.
    const first = await startWorker({ kind: 'answer', body: 'BUSY' }, fleet.addresses.get(busyId));
    workers.push(first);
    workers.push(
      await startWorker({ kind: 'answer', body: 'IDLE' }, fleet.addresses.get(idleId), first.port),
    );
    await tagMetricsPort(asg, fleet.groupName, first.port);
    await asg.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: fleet.groupName,
        InstanceIds: [idleId],
        ProtectedFromScaleIn: true,
      }),
    );

    taskDir = await unzipArtefact(stack.zips.protect!);
    const template = stack.template;
    const run = await invokeBundle({
      taskDir,
      handler: props(resource(template, 'ProtectLambdaFunction')).Handler as string,
      functionName: props(resource(template, 'ProtectLambdaFunction')).FunctionName as string,
      event: SCHEDULED_EVENT,
      env: {
        ...functionEnv(template, 'ProtectLambdaFunction', await standIns(moto, template)),
        ...lambdaEnv(moto),
      },
    });
    expect(run.error, explain(run)).to.equal(undefined);

    const described = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.groupName] }),
    );
    const protection = new Map(
      (described.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => [
        i.InstanceId!,
        i.ProtectedFromScaleIn,
      ]),
    );
    expect(protection.get(busyId), explain(run)).to.equal(true);
    expect(protection.get(idleId), explain(run)).to.equal(false);
    expect(workers[0]!.requests).to.include('/work_status');
  } finally {
    asg.destroy();
    for (const w of workers) await w.close();
    if (taskDir) await rm(taskDir, { recursive: true, force: true });
    await moto.stop();
  }
}

/**
 * gate, as packaged with every param (dry run among them): a lifecycle event for a busy
 * instance leaves a delayed recheck in the recheck queue, and an SQS batch with an unreadable
 * record answers with that record in batchItemFailures.
 */
export async function exerciseGateBundle(stack: PackagedStack): Promise<void> {
  const moto = await startMoto();
  const workers: Worker[] = [];
  let taskDir: string | undefined;
  const asg = new AutoScalingClient(moto.clientConfig);
  const sqs = new SQSClient(moto.clientConfig);
  try {
    const fleet = await createLoopbackFleet(moto, { groupName: 'themis-bundle-gate', size: 1 });
    const instanceId = fleet.instanceIds[0]!;
    const worker = await startWorker(
      { kind: 'answer', body: 'BUSY' },
      fleet.addresses.get(instanceId),
    );
    workers.push(worker);
    await tagMetricsPort(asg, fleet.groupName, worker.port);
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: fleet.groupName,
        LifecycleHookName: 'themis',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 600,
        DefaultResult: 'CONTINUE',
      }),
    );

    const template = stack.template;
    const refs = await standIns(moto, template);
    const gate = props(resource(template, 'GateLambdaFunction'));
    taskDir = await unzipArtefact(stack.zips.gate!);
    const invoke = (event: unknown) =>
      invokeBundle({
        taskDir: taskDir!,
        handler: gate.Handler as string,
        functionName: gate.FunctionName as string,
        event,
        env: { ...functionEnv(template, 'GateLambdaFunction', refs), ...lambdaEnv(moto) },
      });

    const queued = async () => {
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: refs.RecheckQueue, AttributeNames: ['All'] }),
      );
      return (
        Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(attributes.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0)
      );
    };
    const event = lifecycleEvent({
      group: fleet.groupName,
      hook: 'themis',
      instanceId,
      token: '87654321-4321-4321-4321-210987654321',
      region: moto.region,
      id: '7e1c2d3f-0000-4000-8000-000000000002',
    });
    const direct = await invoke(event);
    expect(direct.error, explain(direct)).to.equal(undefined);
    const gateEnv = functionEnv(template, 'GateLambdaFunction', refs);
    if (Number(gateEnv.THEMIS_FIRST_STEP_SPREAD_SECONDS || 0) > 0) {
      // The deployed gate runs a lifecycle event's first step from the recheck queue
      // (firstStepSpreadSeconds): the event is queued as it came; the queue delivers it.
      expect(direct.result, explain(direct)).to.equal(undefined);
      expect(await queued(), explain(direct)).to.equal(1);
      const first = await invoke({
        Records: [
          {
            messageId: 'first-step-1',
            receiptHandle: 'rh-0',
            body: JSON.stringify(event),
            attributes: {},
            messageAttributes: {},
            md5OfBody: '',
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:themis-ci-recheck',
            awsRegion: moto.region,
          },
        ],
      });
      expect(first.error, explain(first)).to.equal(undefined);
      expect(first.result, explain(first)).to.deep.equal({ batchItemFailures: [] });
      expect(worker.requests, explain(first)).to.include('/work_status');
      // The first step's recheck joins the queued event.
      expect(await queued(), explain(first)).to.equal(2);
    } else {
      expect(direct.result, explain(direct)).to.include({ instanceId, outcome: 'held' });
      expect(worker.requests, explain(direct)).to.include('/work_status');
      expect(await queued(), explain(direct)).to.equal(1);
    }

    const batch = await invoke({
      Records: [
        {
          messageId: 'unreadable-1',
          receiptHandle: 'rh-1',
          body: 'not a lifecycle action',
          attributes: {},
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:themis-ci-recheck',
          awsRegion: moto.region,
        },
      ],
    });
    expect(batch.error, explain(batch)).to.equal(undefined);
    expect(batch.result, explain(batch)).to.deep.equal({
      batchItemFailures: [{ itemIdentifier: 'unreadable-1' }],
    });
  } finally {
    asg.destroy();
    sqs.destroy();
    for (const w of workers) await w.close();
    if (taskDir) await rm(taskDir, { recursive: true, force: true });
    await moto.stop();
  }
}
