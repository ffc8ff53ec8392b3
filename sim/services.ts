/**
 * The other services' state, as far as themis depends on it (delivery is in delivery.ts):
 *
 * - PublishedNotice (SNS): every notice the topic accepted.
 * - SimCommands (SSM Run Command): documents, managed instances, and commands that run for
 *   a fixed virtual time and then succeed, fail, time out or are cancelled.
 */
import type { CommandState, Notice } from '../lib/ports.js';
import { SimAwsError } from './aws-error.js';
import type { Fleet } from './fleet.js';
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
  /** Documents with a model of their own run, by name. */
  runners?: Readonly<Record<string, DocumentRunner>>;
}

export interface SimCommand {
  commandId: string;
  instanceId: string;
  documentName: string;
  /** SendCommand's Parameters (SSM's list form). */
  parameters: Record<string, string[]>;
  sentAt: number;
  finishAt: number;
  timeoutAt: number;
  fails: boolean;
  /** What GetCommandInvocation says of a failed run (default "Failed: exit code 1"). */
  failDetail?: string;
  cancelledAt?: number;
}

/**
 * A document whose run the simulator models itself (sim/remote-script.ts: AWS-RunRemoteScript
 * downloading a script from S3): called at SendCommand — it may refuse the parameters (throw a
 * SimAwsError) or set how the run goes (finishAt, fails, failDetail).
 */
export type DocumentRunner = (command: SimCommand) => void;

export class SimCommands {
  readonly sent: SimCommand[] = [];
  private readonly documents: Set<string>;
  private readonly unmanaged: Set<string>;
  readonly runSeconds: number;
  private readonly failRate: number;
  private readonly drains: boolean;
  private readonly runners: Readonly<Record<string, DocumentRunner>>;

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
    this.runners = options.runners ?? {};
  }

  /** The document is deleted from SSM (a setting changed mid-hold). */
  removeDocument(name: string): void {
    this.documents.delete(name);
  }

  cancel(commandId: string): void {
    const c = this.sent.find((s) => s.commandId === commandId);
    if (!c) throw new SimAwsError('InvalidCommandId', `Command ${commandId} does not exist`);
    c.cancelledAt ??= this.scheduler.now();
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

  send(
    instanceId: string,
    documentName: string,
    timeoutSeconds: number,
    parameters: Record<string, string[]> = {},
  ): string {
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
      parameters,
      sentAt: now,
      finishAt: now + this.runSeconds * 1000,
      timeoutAt: now + timeoutSeconds * 1000,
      fails: this.random.chance(this.failRate),
    };
    this.runners[documentName]?.(command);
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
    if (c.cancelledAt !== undefined && c.cancelledAt < Math.min(endsAt, c.timeoutAt)) {
      return { state: 'failed', detail: 'Cancelled' };
    }
    if (endsAt > c.timeoutAt && now >= c.timeoutAt) return { state: 'failed', detail: 'TimedOut' };
    if (now < endsAt) return { state: 'pending' };
    return c.fails
      ? { state: 'failed', detail: c.failDetail ?? 'Failed: exit code 1' }
      : { state: 'success' };
  }
}
