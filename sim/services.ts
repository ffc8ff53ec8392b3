/**
 * The other AWS services around the gate, modelled as far as themis depends on them:
 *
 * - SimTopic (SNS): records every Publish attempt, delivered or failed.
 * - Delivery channels (EventBridge → Lambda, and the SQS recheck queue → Lambda): a message
 *   is handed to the consumer after its delay; when the consumer fails it is retried after
 *   the channel's retry delay, until the channel gives up and dead-letters it. Either may
 *   deliver a message twice (at-least-once).
 *     EventBridge → Lambda (asynchronous invocation): Lambda retries a failed invocation
 *       twice, about 1 and 2 minutes later, then sends it to the on-failure destination.
 *     SQS → Lambda: a failed message becomes visible again after the visibility timeout
 *       and moves to the DLQ once it has been received maxReceiveCount times.
 * - SimCommands (SSM Run Command): documents, managed instances, and commands that run for
 *   a fixed virtual time and then succeed or fail.
 */
import type { CommandState, Notice } from '../lib/ports.js';
import { SimAwsError } from './aws-error.js';
import type { Fleet } from './fleet.js';
import type { Journal } from './journal.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';

export interface PublishedNotice {
  at: number;
  notice: Notice;
  /** false when the Publish call failed: the operator never saw it. */
  delivered: boolean;
  /** The step's instance, when known (the chain the notice belongs to). */
  instanceId?: string;
}

export class SimTopic {
  readonly published: PublishedNotice[] = [];

  delivered(): PublishedNotice[] {
    return this.published.filter((p) => p.delivered);
  }
}

export type ConsumerVerdict = 'ok' | 'retry' | 'drop';

export interface Delivery<T> {
  /** One id per message; a duplicate delivery keeps the id, with `duplicate` set. */
  messageId: string;
  channel: string;
  body: T;
  /** 1 on the first delivery, 2 on the first retry, … */
  receiveCount: number;
  duplicate: boolean;
  /** The instance the message is about (known to the simulator, not read from the body). */
  instanceId?: string;
}

export interface ChannelOptions {
  name: string;
  /** Delay before the n-th retry (n = receiveCount so far); undefined = give up, dead-letter. */
  retryDelayMs: (receiveCount: number) => number | undefined;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** How much later the duplicate arrives (ms, uniform up to this). */
  duplicateSpreadMs: number;
}

export class DeliveryChannel<T> {
  readonly deadLetters: Array<Delivery<T> & { at: number }> = [];
  /** Messages sent and not yet settled (delivered OK, dropped or dead-lettered). */
  inFlight = 0;
  private consumer?: (d: Delivery<T>) => Promise<ConsumerVerdict>;
  private nextId = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly journal: Journal,
    readonly options: ChannelOptions,
  ) {}

  consume(consumer: (d: Delivery<T>) => Promise<ConsumerVerdict>): void {
    this.consumer = consumer;
  }

  send(body: T, delayMs: number, instanceId?: string): void {
    const messageId = `${this.options.name}-${++this.nextId}`;
    const base = {
      messageId,
      channel: this.options.name,
      body,
      ...(instanceId ? { instanceId } : {}),
    };
    this.schedule({ ...base, receiveCount: 0, duplicate: false }, delayMs);
    if (this.random.chance(this.options.duplicateRate)) {
      const extra = this.random.int(0, this.options.duplicateSpreadMs);
      this.journal.add('fault', `duplicate delivery of ${messageId}`, {
        ...(instanceId ? { instanceId } : {}),
        data: { fault: 'duplicate', channel: this.options.name },
      });
      this.schedule({ ...base, receiveCount: 0, duplicate: true }, delayMs + extra);
    }
  }

  private schedule(d: Delivery<T>, delayMs: number): void {
    this.inFlight++;
    this.scheduler.after(delayMs, `${this.options.name} ${d.messageId}`, async () => {
      const delivery = { ...d, receiveCount: d.receiveCount + 1 };
      const verdict = this.consumer ? await this.consumer(delivery) : 'retry';
      this.inFlight--;
      if (verdict !== 'retry') return;
      const retryIn = this.options.retryDelayMs(delivery.receiveCount);
      if (retryIn === undefined) {
        this.deadLetters.push({ ...delivery, at: this.scheduler.now() });
        this.journal.add(
          'dead-letter',
          `${d.messageId} dead-lettered after ${delivery.receiveCount} attempts`,
          {
            ...(d.instanceId ? { instanceId: d.instanceId } : {}),
            data: { channel: this.options.name, receiveCount: delivery.receiveCount },
          },
        );
        return;
      }
      this.journal.add(
        'gate-retry',
        `${d.messageId} will be retried in ${Math.round(retryIn / 1000)} s`,
        {
          ...(d.instanceId ? { instanceId: d.instanceId } : {}),
          data: {
            channel: this.options.name,
            receiveCount: delivery.receiveCount,
            retryInMs: retryIn,
          },
        },
      );
      this.schedule(delivery, retryIn);
    });
  }
}

/** Lambda's asynchronous-invocation retries: 2 more attempts, ~1 and ~2 minutes later. */
export function asyncInvokeRetries(delaysSeconds: readonly number[] = [60, 120]) {
  return (receiveCount: number): number | undefined => {
    const s = delaysSeconds[receiveCount - 1];
    return s === undefined ? undefined : s * 1000;
  };
}

/** SQS: visible again after the visibility timeout; to the DLQ after maxReceiveCount receives. */
export function sqsRedelivery(visibilityTimeoutSeconds: number, maxReceiveCount: number) {
  return (receiveCount: number): number | undefined =>
    receiveCount >= maxReceiveCount ? undefined : visibilityTimeoutSeconds * 1000;
}

export interface CommandsOptions {
  /** Documents that exist (DescribeDocument). */
  documents?: readonly string[];
  /** Instances SSM does not manage (no agent). */
  unmanaged?: readonly string[];
  /** How long a command runs before it finishes (virtual seconds). */
  runSeconds?: number;
  /** Probability that a command fails. */
  failRate?: number;
  /**
   * The command drains the worker: it takes no new work after it was sent (default true).
   * That is what a pre-termination command is for; note that the gate completes on the
   * command's success without probing again, so work a worker starts meanwhile is cut.
   */
  drains?: boolean;
}

interface SimCommand {
  commandId: string;
  instanceId: string;
  documentName: string;
  sentAt: number;
  finishAt: number;
  timeoutAt: number;
  fails: boolean;
}

export class SimCommands {
  readonly sent: SimCommand[] = [];
  private readonly documents: Set<string>;
  private readonly unmanaged: Set<string>;
  readonly runSeconds: number;
  private readonly failRate: number;
  private readonly drains: boolean;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly fleet: Fleet,
    options: CommandsOptions = {},
  ) {
    this.documents = new Set(options.documents ?? []);
    this.unmanaged = new Set(options.unmanaged ?? []);
    this.runSeconds = options.runSeconds ?? 20;
    this.failRate = options.failRate ?? 0;
    this.drains = options.drains ?? true;
  }

  documentExists(name: string): boolean {
    return this.documents.has(name);
  }

  isManaged(instanceId: string): boolean {
    const inst = this.fleet.instance(instanceId);
    return (
      !!inst &&
      inst.answering &&
      inst.lifecycleState !== 'Terminated' &&
      !this.unmanaged.has(instanceId)
    );
  }

  send(instanceId: string, documentName: string, timeoutSeconds: number): string {
    if (!this.documents.has(documentName)) {
      throw new SimAwsError('InvalidDocument', `Document ${documentName} does not exist`);
    }
    if (!this.isManaged(instanceId)) {
      throw new SimAwsError(
        'InvalidInstanceId',
        `Instances [[${instanceId}]] not in a valid state`,
      );
    }
    const now = this.scheduler.now();
    const command: SimCommand = {
      commandId: this.random.uuid(),
      instanceId,
      documentName,
      sentAt: now,
      finishAt: now + this.runSeconds * 1000,
      timeoutAt: now + timeoutSeconds * 1000,
      fails: this.random.chance(this.failRate),
    };
    this.sent.push(command);
    if (this.drains) {
      const inst = this.fleet.instance(instanceId);
      if (inst) inst.work = inst.work.cutAt(now);
    }
    return command.commandId;
  }

  status(commandId: string, instanceId: string): { state: CommandState; detail?: string } {
    const c = this.sent.find((s) => s.commandId === commandId && s.instanceId === instanceId);
    if (!c) throw new SimAwsError('InvocationDoesNotExist', 'InvocationDoesNotExist');
    const now = this.scheduler.now();
    const inst = this.fleet.instance(instanceId);
    // A command on an instance that stopped answering never reports back: it times out.
    const endsAt = !inst || !inst.answering ? Infinity : c.finishAt;
    if (endsAt > c.timeoutAt && now >= c.timeoutAt) return { state: 'failed', detail: 'TimedOut' };
    if (now < endsAt) return { state: 'pending' };
    return c.fails ? { state: 'failed', detail: 'Failed: exit code 1' } : { state: 'success' };
  }
}
