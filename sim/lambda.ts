/**
 * Lambda as the simulator runs it: a function is a pool of containers; an invocation takes a
 * free container or starts a new one (a cold start: the handler and its clients are built
 * then, as functions/*.ts build them at module scope); invocations run concurrently.
 *
 * Every invocation has the function's timeout: when it passes and the handler has not
 * settled, the container is killed — nothing it awaits ever resumes (its timers, SDK answers
 * and probe answers are dropped) — and Lambda reports a timeout. An injected crash kills the
 * container right after its k-th external operation took effect (an AWS request or a probe
 * answer): the answer is lost with the process, as in a crash between
 * CompleteLifecycleAction and Publish. A killed container is never reused.
 */
import type { Timers } from '../lib/time.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';
import { freshRetryState, type ClientRetryState, type Owner, type Service } from './sdk.js';

export interface InvocationContext {
  getRemainingTimeInMillis(): number;
  awsRequestId: string;
  functionName: string;
}

export type Handler = (event: unknown, context: InvocationContext) => Promise<unknown>;

export type InvocationResult =
  | { kind: 'ok'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' }
  | { kind: 'crashed'; after: string };

export interface InvocationRecord {
  id: number;
  fn: string;
  trigger: string;
  startedAt: number;
  endedAt?: number;
  coldStart: boolean;
  result?: InvocationResult['kind'];
  error?: string;
  /** SQS message ids of the batch, when invoked by the queue. */
  messageIds?: string[];
  /** Instances the event was about (for the checker). */
  instanceIds?: string[];
  /** Message ids reported in batchItemFailures. */
  failedItems?: string[];
}

/** One Lambda container: the handler built at its cold start and its clients' state. */
export class Container implements Owner {
  private live = true;
  busy = false;
  retired = false;
  ops = 0;
  /** The invocation it runs now (or ran last). */
  invocation = 0;
  crashAfterOps?: number;
  onCrash?: (after: string) => void;
  readonly retry: Record<Service, ClientRetryState> = freshRetryState();
  readonly timers: Timers;
  /** The latest probe answer per instance seen by this container (protect's decisions follow them). */
  readonly lastProbes = new Map<string, { at: number; status: string }>();
  handler?: Handler;

  constructor(
    readonly id: number,
    private readonly scheduler: Scheduler,
  ) {
    this.timers = scheduler.timers(() => this.live);
  }

  alive(): boolean {
    return this.live;
  }

  kill(): void {
    this.live = false;
  }

  tookEffect(what: string): boolean {
    if (!this.live) return true;
    this.ops++;
    if (this.crashAfterOps !== undefined && this.ops >= this.crashAfterOps) {
      this.live = false;
      const onCrash = this.onCrash;
      this.scheduler.after(0, 'crash', () => onCrash?.(what));
      return true;
    }
    return false;
  }
}

export interface FunctionOptions {
  name: string;
  timeoutMs: number;
  /** Builds the handler in a new container (its clients, prober, timers). */
  build: (container: Container) => Handler;
  /** Cold start (init) duration range, ms. */
  coldStartMs?: readonly [number, number];
  /** Decides, per invocation, after how many external operations the container dies. */
  crashAfterOps?: () => number | undefined;
}

export class LambdaFunction {
  readonly invocations: InvocationRecord[] = [];
  private readonly containers: Container[] = [];
  private nextId = 0;
  private nextContainer = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    readonly options: FunctionOptions,
  ) {}

  /** A new deployment: containers running now are not reused once their invocation ends. */
  retire(): void {
    for (const c of this.containers) c.retired = true;
  }

  /** Invocations started and not finished. */
  running(): number {
    return this.invocations.filter((i) => i.endedAt === undefined).length;
  }

  invoke(
    event: unknown,
    trigger: string,
    about: Pick<InvocationRecord, 'messageIds' | 'instanceIds'> = {},
  ): Promise<InvocationResult> {
    const s = this.scheduler;
    let container = this.containers.find((c) => c.alive() && !c.busy && !c.retired);
    const coldStart = !container;
    if (!container) {
      container = new Container(++this.nextContainer, s);
      this.containers.push(container);
    }
    const c = container;
    c.busy = true;
    const record: InvocationRecord = {
      id: ++this.nextId,
      fn: this.options.name,
      trigger,
      startedAt: s.now(),
      coldStart,
      ...about,
    };
    this.invocations.push(record);
    const [minCold, maxCold] = this.options.coldStartMs ?? [150, 900];
    const initMs = coldStart ? this.random.int(minCold, maxCold) : 0;

    return new Promise<InvocationResult>((resolve) => {
      let done = false;
      const finish = (result: InvocationResult) => {
        if (done) return;
        done = true;
        record.endedAt = s.now();
        record.result = result.kind;
        if (result.kind === 'error') record.error = errorText(result.error);
        if (result.kind === 'crashed') record.error = `killed after ${result.after}`;
        if (result.kind === 'timeout')
          record.error = `timed out after ${this.options.timeoutMs} ms`;
        if (result.kind === 'ok') {
          const failures = (result.value as { batchItemFailures?: { itemIdentifier: string }[] })
            ?.batchItemFailures;
          if (failures?.length) record.failedItems = failures.map((f) => f.itemIdentifier);
        }
        if (c.alive()) c.busy = false;
        else this.containers.splice(this.containers.indexOf(c), 1);
        resolve(result);
      };
      s.after(initMs, `${this.options.name} start`, () => {
        c.handler ??= this.options.build(c);
        c.ops = 0;
        c.invocation = record.id;
        const crashAfter = this.options.crashAfterOps?.();
        if (crashAfter === undefined) delete c.crashAfterOps;
        else c.crashAfterOps = crashAfter;
        c.onCrash = (after) => finish({ kind: 'crashed', after });
        const deadline = s.now() + this.options.timeoutMs;
        const timeout = s.at(deadline, `${this.options.name} timeout`, () => {
          c.kill();
          finish({ kind: 'timeout' });
        });
        const context: InvocationContext = {
          getRemainingTimeInMillis: () => Math.max(0, deadline - s.now()),
          awsRequestId: `req-${record.id}`,
          functionName: this.options.name,
        };
        let running: Promise<unknown>;
        try {
          running = c.handler(event, context);
        } catch (err) {
          running = Promise.reject(err);
        }
        running.then(
          (value) => {
            if (!c.alive()) return;
            timeout.cancel();
            finish({ kind: 'ok', value });
          },
          (error: unknown) => {
            if (!c.alive()) return;
            timeout.cancel();
            finish({ kind: 'error', error });
          },
        );
      });
    });
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
