/**
 * A worker group's backlog: the visible messages of its work queue (sqs:GetQueueAttributes).
 *
 * The SQS SDK is loaded on first use, not when protect starts: most stacks name no queue,
 * and their cold starts should not pay for a client they never call.
 *
 * `useQueueUrlAsEndpoint: false`: the SDK would otherwise send the signed request to the
 * host written in the queue URL — and that URL comes from a group tag anyone allowed to tag
 * groups can set. The request goes to the client's own endpoint (the regional one, or
 * AWS_ENDPOINT_URL), so a queue must be in the group's region.
 */
import type * as SqsSdk from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { UpstreamError } from '../errors.js';
import type { CallOptions, QueueBacklog } from '../ports.js';
import { clientConfig } from './clients.js';
import { sendUnder } from './util.js';

let sdk: Promise<typeof SqsSdk> | undefined;

export function loadSqsSdk(): Promise<typeof SqsSdk> {
  sdk ??= import('@aws-sdk/client-sqs').catch((err: unknown) => {
    sdk = undefined;
    throw err;
  });
  return sdk;
}

/** An SQS client for `region` with the shared retry policy, built on first use. */
export function lazySqsClient(region?: string): () => Promise<SQSClient> {
  let client: Promise<SQSClient> | undefined;
  return () => {
    client ??= loadSqsSdk().then(
      (m) => new m.SQSClient({ ...clientConfig(region), useQueueUrlAsEndpoint: false }),
    );
    return client;
  };
}

export class SqsBacklog implements QueueBacklog {
  constructor(private readonly client: () => Promise<SQSClient>) {}

  async visibleMessages(queueUrl: string, opts?: CallOptions): Promise<number> {
    let raw: string | undefined;
    try {
      const [client, sqs] = await Promise.all([this.client(), loadSqsSdk()]);
      const out = await sendUnder(opts, (o) =>
        client.send(
          new sqs.GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: ['ApproximateNumberOfMessages'],
          }),
          o,
        ),
      );
      raw = out.Attributes?.ApproximateNumberOfMessages;
    } catch (cause) {
      throw new UpstreamError(`GetQueueAttributes ${queueUrl}`, { cause });
    }
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n < 0) {
      throw new UpstreamError(`GetQueueAttributes ${queueUrl}`, {
        cause: new Error(`ApproximateNumberOfMessages is ${JSON.stringify(raw)}, not a count`),
      });
    }
    return n;
  }
}
