/**
 * How AWS hands events to the gate.
 *
 * SqsQueue + its event source mapping (the recheck queue → the gate): a sent message is
 * invisible for its DelaySeconds; the Lambda poller receives visible messages a moment later
 * in batches of up to `batchSize` and invokes the function once per batch, batches
 * concurrently. A receive makes the message invisible for the queue's visibility timeout and
 * counts it; a message received maxReceiveCount times and not deleted moves to the DLQ on
 * its next receive. When the invocation succeeds Lambda deletes the batch except the
 * messages listed in batchItemFailures; when it fails, times out or its container dies,
 * nothing is deleted: every message of the batch reappears when its visibility timeout runs
 * out — possibly while the first invocation is still running. SQS is at-least-once: a
 * message is occasionally delivered twice.
 *
 * AsyncInvoker (EventBridge → Lambda, asynchronous invocation): the event is invoked a
 * moment after it was emitted; a failed invocation (error, timeout, crash) is retried
 * `maximumRetryAttempts` times, one minute and then two minutes later, then it goes to the
 * on-failure destination (the events DLQ). Occasionally an event is invoked twice.
 */
import { LAMBDA_ASYNC_RETRY_DELAYS_SECONDS } from '../lib/aws/facts.js';
import type { Journal } from './journal.js';
import type { InvocationResult, LambdaFunction } from './lambda.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';

export interface QueuedMessage {
  id: string;
  body: string;
  /** The instance the message is about, read from its body (for the checker). */
  instanceId?: string;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  duplicate: boolean;
  deleted?: number;
  deadLettered?: number;
}

export interface QueueOptions {
  name: string;
  url: string;
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  batchSize: number;
  /** Probability that a sent message is delivered twice. */
  duplicateRate: number;
}

const INSTANCE_ID = /\bi-[0-9a-f]{8,17}\b/;
/** Lambda's poller receives a message this long (ms) after it became visible. */
const POLL_LAG_MS: readonly [number, number] = [20, 1000];

export class SqsQueue {
  readonly messages: QueuedMessage[] = [];
  private consumer?: LambdaFunction;
  private nextId = 0;
  private pollScheduled = new Set<number>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly journal: Journal,
    readonly options: QueueOptions,
  ) {}

  /** The event source mapping: this function is invoked with the queue's batches. */
  attach(fn: LambdaFunction): void {
    this.consumer = fn;
  }

  deadLetters(): QueuedMessage[] {
    return this.messages.filter((m) => m.deadLettered !== undefined);
  }

  /** Messages neither deleted nor dead-lettered. */
  inFlight(): number {
    return this.messages.filter((m) => m.deleted === undefined && m.deadLettered === undefined)
      .length;
  }

  send(body: string, delaySeconds: number): string {
    const id = this.enqueue(body, delaySeconds, false);
    if (this.random.chance(this.options.duplicateRate)) {
      const twin = this.enqueue(body, delaySeconds + this.random.int(0, 10), true);
      this.journal.add('fault', `SQS delivers ${id} twice (${twin})`, {
        ...(this.messages.at(-1)?.instanceId
          ? { instanceId: this.messages.at(-1)!.instanceId! }
          : {}),
        data: { fault: 'duplicate-recheck' },
      });
    }
    return id;
  }

  private enqueue(body: string, delaySeconds: number, duplicate: boolean): string {
    const now = this.scheduler.now();
    const instanceId = INSTANCE_ID.exec(body)?.[0];
    const m: QueuedMessage = {
      id: `${this.options.name}-${++this.nextId}`,
      body,
      ...(instanceId ? { instanceId } : {}),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
      duplicate,
    };
    this.messages.push(m);
    this.pollAt(m.visibleAt);
    return m.id;
  }

  private pollAt(visibleAt: number): void {
    const at = visibleAt + this.random.int(POLL_LAG_MS[0], POLL_LAG_MS[1]);
    if (this.pollScheduled.has(at)) return;
    this.pollScheduled.add(at);
    this.scheduler.at(at, `poll ${this.options.name}`, () => {
      this.pollScheduled.delete(at);
      this.poll();
    });
  }

  private poll(): void {
    if (!this.consumer) return;
    const now = this.scheduler.now();
    const visible = this.messages.filter(
      (m) => m.deleted === undefined && m.deadLettered === undefined && m.visibleAt <= now,
    );
    const received: QueuedMessage[] = [];
    for (const m of visible) {
      if (m.receiveCount >= this.options.maxReceiveCount) {
        m.deadLettered = now;
        this.journal.add(
          'dead-letter',
          `${m.id} moved to the DLQ after ${m.receiveCount} receives`,
          {
            ...(m.instanceId ? { instanceId: m.instanceId } : {}),
            data: { channel: 'recheck', receiveCount: m.receiveCount },
          },
        );
        continue;
      }
      m.receiveCount++;
      m.visibleAt = now + this.options.visibilityTimeoutSeconds * 1000;
      // If it is not deleted by then, it is received again.
      this.pollAt(m.visibleAt);
      received.push(m);
    }
    for (let i = 0; i < received.length; i += this.options.batchSize) {
      const batch = received.slice(i, i + this.options.batchSize);
      void this.invoke(batch);
    }
  }

  private async invoke(batch: QueuedMessage[]): Promise<void> {
    const event = {
      Records: batch.map((m) => ({
        messageId: m.id,
        receiptHandle: `${m.id}#${m.receiveCount}`,
        body: m.body,
        attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentAt),
        },
        messageAttributes: {},
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${this.options.name}`,
        awsRegion: 'us-east-1',
      })),
    };
    const result = await this.consumer!.invoke(event, 'sqs', {
      messageIds: batch.map((m) => m.id),
      instanceIds: batch.flatMap((m) => (m.instanceId ? [m.instanceId] : [])),
    });
    if (result.kind !== 'ok') return;
    const failed = new Set(
      (
        (result.value as { batchItemFailures?: { itemIdentifier: string }[] } | undefined)
          ?.batchItemFailures ?? []
      ).map((f) => f.itemIdentifier),
    );
    const now = this.scheduler.now();
    for (const m of batch) {
      if (!failed.has(m.id) && m.deleted === undefined && m.deadLettered === undefined) {
        m.deleted = now;
      }
    }
  }
}

export interface AsyncDelivery {
  id: string;
  event: unknown;
  instanceId?: string;
  attempts: number;
  duplicate: boolean;
  deadLettered?: number;
  done?: number;
}

export interface AsyncInvokerOptions {
  maximumRetryAttempts: number;
  /** Delay between emission and the first invocation, ms. */
  latencyMs: readonly [number, number];
  duplicateRate: number;
}

/** Lambda's documented waits before the retries of an asynchronous invocation. */
const ASYNC_RETRY_DELAYS_MS = LAMBDA_ASYNC_RETRY_DELAYS_SECONDS.map((s) => s * 1000);

export class AsyncInvoker {
  readonly deliveries: AsyncDelivery[] = [];
  private nextId = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly journal: Journal,
    private readonly fn: LambdaFunction,
    readonly options: AsyncInvokerOptions,
  ) {}

  deadLetters(): AsyncDelivery[] {
    return this.deliveries.filter((d) => d.deadLettered !== undefined);
  }

  inFlight(): number {
    return this.deliveries.filter((d) => d.done === undefined && d.deadLettered === undefined)
      .length;
  }

  send(event: unknown, instanceId?: string): void {
    const [min, max] = this.options.latencyMs;
    this.schedule(event, instanceId, this.random.int(min, max), false);
    if (this.random.chance(this.options.duplicateRate)) {
      this.journal.add('fault', `EventBridge delivers the event for ${instanceId ?? '?'} twice`, {
        ...(instanceId ? { instanceId } : {}),
        data: { fault: 'duplicate-event' },
      });
      this.schedule(
        event,
        instanceId,
        this.random.int(min, max) + this.random.int(0, 30_000),
        true,
      );
    }
  }

  private schedule(
    event: unknown,
    instanceId: string | undefined,
    delayMs: number,
    duplicate: boolean,
  ) {
    const d: AsyncDelivery = {
      id: `event-${++this.nextId}`,
      event,
      ...(instanceId ? { instanceId } : {}),
      attempts: 0,
      duplicate,
    };
    this.deliveries.push(d);
    this.scheduler.after(delayMs, `deliver ${d.id}`, () => this.attempt(d));
  }

  private async attempt(d: AsyncDelivery): Promise<void> {
    d.attempts++;
    const result: InvocationResult = await this.fn.invoke(d.event, 'event', {
      ...(d.instanceId ? { instanceIds: [d.instanceId] } : {}),
    });
    const now = this.scheduler.now();
    if (result.kind === 'ok') {
      d.done = now;
      return;
    }
    const retry =
      d.attempts <= this.options.maximumRetryAttempts
        ? ASYNC_RETRY_DELAYS_MS[Math.min(d.attempts - 1, ASYNC_RETRY_DELAYS_MS.length - 1)]
        : undefined;
    if (retry === undefined) {
      d.deadLettered = now;
      this.journal.add(
        'dead-letter',
        `lifecycle event for ${d.instanceId ?? '?'} sent to the events DLQ after ${d.attempts} attempts`,
        {
          ...(d.instanceId ? { instanceId: d.instanceId } : {}),
          data: { channel: 'event', attempts: d.attempts },
        },
      );
      return;
    }
    this.journal.add(
      'gate-retry',
      `Lambda retries the event for ${d.instanceId ?? '?'} in ${retry / 1000} s`,
      {
        ...(d.instanceId ? { instanceId: d.instanceId } : {}),
        data: { channel: 'event', retryInMs: retry },
      },
    );
    this.scheduler.after(retry, `retry ${d.id}`, () => this.attempt(d));
  }
}
