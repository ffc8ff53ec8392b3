/**
 * Peak RSS of the gate as packaged, holding a full batch: the zip `serverless package` made
 * (bench/package.ts), imported by plain `node` with the function's environment from the
 * template, the heap Node sizes for the gate's deployed memorySize and a cgroup CPU quota of
 * that size's share of a vCPU; AWS is moto_server (the stack's recheck queue and topic made
 * in it under the template's names), the instances are loopback HTTP workers answering BUSY.
 *
 * One process, as one warm container, is invoked with what a scale-in of `BATCH` instances
 * brings a deployed gate (firstStepSpreadSeconds > 0):
 *   1. the EventBridge lifecycle event of one instance (queued for its first step);
 *   2. an SQS batch of `BATCH` lifecycle events: each a first step (group, hook, address,
 *      probe: BUSY, a recheck queued) — the gate's largest batch (serverless.yml batchSize);
 *   3. the rechecks those steps queued, read back from the queue as Lambda would deliver
 *      them: `BATCH` held steps more.
 * No step completes or heartbeats (the instances stay busy and the hook is young): moto has
 * neither RecordLifecycleActionHeartbeat nor CompleteLifecycleAction.
 *
 * Figure: the process's VmHWM after the last invocation (Linux; ru_maxrss would include the
 * parent's RSS). Baselines in the same process: VmHWM after the import (the cold start), and
 * the memory size (goal ≤ 60 %).
 */
import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  PutLifecycleHookCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TERMINATING } from '../lib/aws/facts.js';
import { lifecycleEvent } from '../test/helpers/events.js';
import { startWorker, type Worker } from '../test/helpers/http-workers.js';
import { createLoopbackFleet, startMoto } from '../test/helpers/moto.js';
import { functionEnv } from '../test/packaging/bundle-checks.js';
import { props, resource, type Template } from '../test/packaging/package-stack.js';
import type { CpuLimit } from './cgroup.js';
import { onInterrupt } from './children.js';
import { startPackaged, type Invocation } from './packaged-function.js';

/** serverless.yml's `custom.gate.batchSize`: the most records one gate invocation steps. */
export const BATCH = 10;
/** Long enough that no first step or recheck here needs a heartbeat. */
const HEARTBEAT_TIMEOUT_SECONDS = 1800;
/** How long to wait for the queued rechecks (recheckSeconds, 10 s deployed, plus jitter). */
const RECHECKS_WITHIN_MS = 60_000;

export interface GateMemoryRun {
  /** VmHWM after the import: the cold start. */
  importRssMB: number;
  /** VmHWM after each invocation (monotonic: the process's peak so far). */
  afterRssMB: number[];
  invocations: Invocation[];
  /** Probe requests the workers answered (each a held step's probe). */
  probes: number;
}

const sqsRecord = (id: string, body: string, region: string, arn: string) => ({
  messageId: id,
  receiptHandle: id,
  body,
  attributes: {},
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: arn,
  awsRegion: region,
});

export async function measureGateMemory(o: {
  taskDir: string;
  template: Template;
  memoryMB: number;
  cpu?: CpuLimit;
  log: (line: string) => void;
}): Promise<GateMemoryRun> {
  const moto = await startMoto();
  const forgetMoto = onInterrupt(() => moto.stop());
  const workers: Worker[] = [];
  const asg = new AutoScalingClient(moto.clientConfig);
  const sqs = new SQSClient(moto.clientConfig);
  const sns = new SNSClient(moto.clientConfig);
  let stopRunner: (() => Promise<void>) | undefined;
  try {
    const fleet = await createLoopbackFleet(moto, { groupName: 'themis-bench-gate', size: BATCH });
    const first = await startWorker(
      { kind: 'answer', body: 'BUSY' },
      fleet.addresses.get(fleet.instanceIds[0]!),
    );
    workers.push(first);
    for (const id of fleet.instanceIds.slice(1)) {
      workers.push(
        await startWorker({ kind: 'answer', body: 'BUSY' }, fleet.addresses.get(id), first.port),
      );
    }
    await asg.send(
      new CreateOrUpdateTagsCommand({
        Tags: [
          {
            ResourceId: fleet.groupName,
            ResourceType: 'auto-scaling-group',
            Key: 'themis:metrics-port',
            Value: String(first.port),
            PropagateAtLaunch: false,
          },
        ],
      }),
    );
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: fleet.groupName,
        LifecycleHookName: 'themis',
        LifecycleTransition: TERMINATING,
        HeartbeatTimeout: HEARTBEAT_TIMEOUT_SECONDS,
        DefaultResult: 'CONTINUE',
      }),
    );
    const queueName = props(resource(o.template, 'RecheckQueue')).QueueName as string;
    const topicName = props(resource(o.template, 'OutcomeTopic')).TopicName as string;
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl!;
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: topicName }))).TopicArn!;
    const queueArn = `arn:aws:sqs:${moto.region}:123456789012:${queueName}`;

    const gate = props(resource(o.template, 'GateLambdaFunction'));
    const fn = await startPackaged({
      label: 'gate',
      taskDir: o.taskDir,
      handler: gate.Handler as string,
      env: {
        ...functionEnv(o.template, 'GateLambdaFunction', {
          RecheckQueue: queueUrl,
          OutcomeTopic: topicArn,
        }),
        AWS_REGION: moto.region,
        AWS_DEFAULT_REGION: moto.region,
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_LAMBDA_FUNCTION_NAME: String(gate.FunctionName),
        THEMIS_LOOPBACK_ONLY: '1',
      },
      memoryMB: o.memoryMB,
      timeoutMs: Number(gate.Timeout ?? 80) * 1000,
      ...(o.cpu ? { cpu: o.cpu } : {}),
      log: o.log,
    });
    stopRunner = () => fn.stop();
    const invoke = (what: string, event: unknown) => fn.invoke(what, event);
    const events = fleet.instanceIds.map((instanceId, i) =>
      lifecycleEvent({
        group: fleet.groupName,
        hook: 'themis',
        instanceId,
        token: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        region: moto.region,
        id: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
      }),
    );
    await invoke('the EventBridge event of one instance', events[0]);
    await invoke(`an SQS batch of ${BATCH} first steps`, {
      Records: events.map((e, i) =>
        sqsRecord(`first-${i}`, JSON.stringify(e), moto.region, queueArn),
      ),
    });
    // The rechecks those steps queued (the EventBridge event's own queued first step is left).
    const rechecks: Array<{ id: string; body: string }> = [];
    const until = Date.now() + RECHECKS_WITHIN_MS;
    while (rechecks.length < BATCH && Date.now() < until) {
      const got = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 5,
          VisibilityTimeout: 600,
        }),
      );
      for (const m of got.Messages ?? []) {
        if (JSON.parse(m.Body!)['detail-type'] !== undefined) continue; // a queued event
        rechecks.push({ id: m.MessageId!, body: m.Body! });
      }
    }
    if (rechecks.length < BATCH) {
      throw new Error(`the first steps queued ${rechecks.length} rechecks, not ${BATCH}`);
    }
    await invoke(`an SQS batch of ${BATCH} rechecks`, {
      Records: rechecks.slice(0, BATCH).map((r) => sqsRecord(r.id, r.body, moto.region, queueArn)),
    });
    return {
      importRssMB: fn.importRssMB,
      afterRssMB: fn.invocations.map((v) => v.rssMB),
      invocations: fn.invocations,
      probes: workers.reduce((n, w) => n + w.requests.length, 0),
    };
  } finally {
    await stopRunner?.();
    asg.destroy();
    sqs.destroy();
    sns.destroy();
    for (const w of workers) await w.close();
    await moto.stop();
    forgetMoto();
  }
}
