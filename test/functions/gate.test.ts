/**
 * functions/gate.ts, the composition root: configuration from the environment at cold
 * start, SDK clients from AWS_ENDPOINT_URL, the loopback-only prober. Each import below
 * carries a query string so that it is a fresh module instance — a fresh cold start.
 *
 * The over-the-wire case runs in a dry run on purpose: a dry run makes no
 * RecordLifecycleActionHeartbeat or CompleteLifecycleAction call, the two operations moto
 * does not implement, so every call this test causes is answered by moto itself.
 */
import { AutoScalingClient, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import type { ConfigError } from '../../lib/errors.js';
import type { GateHandler, SqsBatchResponse } from '../../lib/gate/handler.js';
import type { StepOutcome } from '../../lib/gate/step.js';
import { lifecycleEvent } from '../helpers/events.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { asSqsEvent, createQueue, receiveAndDelete } from '../gate/sqs-wire.js';
import { createLoopbackFleet, startMoto, type Moto, type MotoFleet } from '../helpers/moto.js';

let coldStarts = 0;

/** Set variables; returns how to put the old values back. */
function setEnv(env: Record<string, string | undefined>): () => void {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (values: Iterable<[string, string | undefined]>) => {
    for (const [k, v] of values) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(Object.entries(env));
  return () => apply(saved);
}

/**
 * Import functions/gate.ts as a new module instance (a fresh cold start). The query string
 * reaches its imports too, so errors are told apart by name, not by class identity.
 */
async function coldStart(): Promise<GateHandler> {
  const module = (await import(`../../functions/gate.ts?cold-start=${++coldStarts}`)) as {
    handler: GateHandler;
  };
  return module.handler;
}

async function coldStartError(env: Record<string, string | undefined>): Promise<unknown> {
  const restore = setEnv(env);
  try {
    await coldStart();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    restore();
  }
}

describe('functions/gate', () => {
  describe('cold start', () => {
    it('fails with a ConfigError naming THEMIS_RECHECK_QUEUE_URL when it is missing', async () => {
      const err = await coldStartError({ THEMIS_RECHECK_QUEUE_URL: undefined });
      expect(err).to.have.property('name', 'ConfigError');
      expect((err as ConfigError).field).to.equal('THEMIS_RECHECK_QUEUE_URL');
    });

    it('fails with a ConfigError naming a bad variable', async () => {
      const err = await coldStartError({
        THEMIS_RECHECK_QUEUE_URL: 'http://127.0.0.1:1/123456789012/q',
        THEMIS_ON_DEADLINE: 'LATER',
      });
      expect(err).to.have.property('name', 'ConfigError');
      expect((err as ConfigError).field).to.equal('THEMIS_ON_DEADLINE');
    });
  });

  describe('over the wire (moto), dry run @slow', function () {
    let moto: Moto;
    let sqs: SQSClient;
    let fleet: MotoFleet;
    let worker: Worker;
    let rechecksUrl: string;
    let inboxUrl: string;
    let handler: GateHandler;
    // The SDK resolves AWS_ENDPOINT_URL on each client's first call, so the variables stay
    // set for the whole block.
    let restoreEnv: (() => void) | undefined;

    before(async () => {
      moto = await startMoto();
      sqs = new SQSClient(moto.clientConfig);
      const sns = new SNSClient(moto.clientConfig);
      const asg = new AutoScalingClient(moto.clientConfig);
      try {
        fleet = await createLoopbackFleet(moto, { groupName: 'gate-fn', size: 1 });
        await asg.send(
          new PutLifecycleHookCommand({
            AutoScalingGroupName: fleet.groupName,
            LifecycleHookName: 'themis',
            LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
            HeartbeatTimeout: 300,
          }),
        );
        rechecksUrl = (await createQueue(sqs, 'gate-fn-rechecks')).url;
        const inbox = await createQueue(sqs, 'gate-fn-inbox');
        inboxUrl = inbox.url;
        const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'gate-fn-outcomes' }));
        await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: inbox.arn }));
        worker = await startWorker(
          { kind: 'answer', body: 'BUSY' },
          fleet.addresses.get(fleet.instanceIds[0]!)!,
        );
        restoreEnv = setEnv({
          AWS_ENDPOINT_URL: moto.endpoint,
          AWS_REGION: moto.region,
          THEMIS_RECHECK_QUEUE_URL: rechecksUrl,
          THEMIS_TOPIC_ARN: TopicArn!,
          THEMIS_RECHECK_SECONDS: '5',
          THEMIS_METRICS_PORT: String(worker.port),
          THEMIS_DRY_RUN: 'true',
        });
        handler = await coldStart();
      } finally {
        sns.destroy();
        asg.destroy();
      }
    });

    after(async () => {
      restoreEnv?.();
      await worker?.close();
      sqs?.destroy();
      await moto?.stop();
    });

    it('probes the worker, queues a recheck and tells operators what it would do', async () => {
      const instanceId = fleet.instanceIds[0]!;
      const outcome = (await handler(
        lifecycleEvent({
          group: fleet.groupName,
          hook: 'themis',
          instanceId,
          token: '0f0e0d0c-0b0a-4000-8000-000000000f17',
          region: moto.region,
          id: 'fn-1',
        }),
        { getRemainingTimeInMillis: () => 60_000 },
      )) as StepOutcome;
      expect(outcome).to.include({ outcome: 'held', dryRun: true });
      // 5 s less the queue's one-second delivery allowance and the jitter the function draws
      // from Math.random.
      expect(outcome.delaySeconds).to.be.within(3, 4);
      expect(worker.requests).to.deep.equal(['/work_status']);

      const [recheck] = await receiveAndDelete(sqs, rechecksUrl, 1);
      expect(JSON.parse(recheck!.Body!).action.instanceId).to.equal(instanceId);
      const [holding] = await receiveAndDelete(sqs, inboxUrl, 1);
      expect(JSON.parse(holding!.Body!).Subject).to.equal(
        `[dry run] themis: would be holding ${instanceId} in gate-fn (busy)`,
      );

      worker.set({ kind: 'answer', body: 'IDLE' });
      const response = (await handler(asSqsEvent([recheck!]), {
        getRemainingTimeInMillis: () => 60_000,
      })) as SqsBatchResponse;
      expect(response).to.deep.equal({ batchItemFailures: [] });
      const [released] = await receiveAndDelete(sqs, inboxUrl, 1);
      expect(JSON.parse(released!.Body!).Subject).to.match(
        new RegExp(`^\\[dry run\\] themis: would have released ${instanceId} in gate-fn after`),
      );
      expect(await receiveAndDelete(sqs, rechecksUrl, 1, 1)).to.deep.equal([]);
    });
  });
});
