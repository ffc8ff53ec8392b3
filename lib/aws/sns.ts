/** Operator notices on an SNS topic (sns:Publish). */
import { plainText } from '../text.js';
import { MAX_SUBJECT_CHARS } from './facts.js';
import { PublishCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import { UpstreamError } from '../errors.js';
import type { CallOptions, Notice, Notifications } from '../ports.js';
import { sendUnder } from './util.js';

export { MAX_SUBJECT_CHARS };

export class SnsNotifications implements Notifications {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(notice: Notice, opts?: CallOptions): Promise<void> {
    const subject = toSubject(notice.subject);
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new PublishCommand({
            TopicArn: this.topicArn,
            ...(subject ? { Subject: subject } : {}),
            Message: notice.message,
            MessageAttributes: toAttributes(notice.attributes),
          }),
          o,
        ),
      );
    } catch (cause) {
      throw new UpstreamError(`Publish ${this.topicArn} "${subject}"`, { cause });
    }
  }
}

/**
 * SNS rejects subjects with line breaks or control characters, and longer than the limit:
 * a notice must never fail for its wording, so the subject is cleaned rather than refused.
 * Control characters (C0, DEL, C1) and Unicode line/paragraph separators become one space;
 * the length is counted in code points so a cut never splits a surrogate pair.
 */
export function toSubject(raw: string): string {
  return plainText(raw, MAX_SUBJECT_CHARS);
}

/** String attributes for subscription filter policies; SNS rejects empty values, so they are left out. */
function toAttributes(attributes: Record<string, string>): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== '') out[name] = { DataType: 'String', StringValue: value };
  }
  return out;
}
