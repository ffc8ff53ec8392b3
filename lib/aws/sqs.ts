/** The gate's delayed self-messages (sqs:SendMessage). */
import { MAX_DELAY_SECONDS } from './facts.js';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { UpstreamError } from '../errors.js';
import type { CallOptions, Rechecks } from '../ports.js';
import { sendUnder } from './util.js';

export { MAX_DELAY_SECONDS };

export class SqsRechecks implements Rechecks {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async schedule(body: string, delaySeconds: number, opts?: CallOptions): Promise<void> {
    const delay = clampDelaySeconds(delaySeconds);
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new SendMessageCommand({
            QueueUrl: this.queueUrl,
            MessageBody: body,
            DelaySeconds: delay,
          }),
          o,
        ),
      );
    } catch (cause) {
      throw new UpstreamError(`SendMessage ${this.queueUrl} (delay ${delay} s)`, { cause });
    }
  }
}

/**
 * A recheck interval longer than SQS allows is still a recheck: clamp rather than fail,
 * because a failed schedule would drop the chain holding a lifecycle action. Rounded up, so
 * a recheck never comes earlier than asked; NaN means "now".
 */
export function clampDelaySeconds(delaySeconds: number): number {
  if (Number.isNaN(delaySeconds)) return 0;
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds)));
}
