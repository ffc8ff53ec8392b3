/** A queue's backlog for the scale function's `{ sqs_queue_url }` metric (sqs:GetQueueAttributes). */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { UpstreamError } from '../errors.js';
import type { CallOptions, QueueDepth } from '../ports.js';

export class SqsQueueDepth implements QueueDepth {
  constructor(private readonly client: SQSClient) {}

  async approximateMessages(queueUrl: string, opts?: CallOptions): Promise<number> {
    const operation = `GetQueueAttributes ApproximateNumberOfMessages ${queueUrl}`;
    let value: string | undefined;
    try {
      const out = await this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
        opts?.signal ? { abortSignal: opts.signal } : {},
      );
      value = out.Attributes?.ApproximateNumberOfMessages;
    } catch (cause) {
      throw new UpstreamError(operation, { cause });
    }
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 0) {
      throw new UpstreamError(operation, {
        cause: new Error(`not a message count: ${JSON.stringify(value)}`),
      });
    }
    return n;
  }
}
