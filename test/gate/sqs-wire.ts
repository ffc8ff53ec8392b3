/** SQS helpers for the gate's over-the-wire tests (moto_server). */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export async function createQueue(
  sqs: SQSClient,
  name: string,
): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

/**
 * Long-polls (≤ 2 s per poll) until `count` messages arrived or `maxPolls` polls came back,
 * and deletes what it read.
 */
export async function receiveAndDelete(
  sqs: SQSClient,
  url: string,
  count: number,
  maxPolls = 6,
): Promise<Message[]> {
  const messages: Message[] = [];
  for (let poll = 0; poll < maxPolls && messages.length < count; poll++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
    );
    for (const m of out.Messages ?? []) {
      messages.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  return messages;
}

/** An SQS event as Lambda delivers it, for messages read from a real queue. */
export function asSqsEvent(messages: Message[]) {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      body: m.Body!,
      eventSource: 'aws:sqs',
    })),
  };
}
