/**
 * The gate's Lambda handler logic: the only place that maps errors to retry behaviour.
 *
 * Time: the invocation's deadline is the Lambda's remaining time less a reserve
 * (budget.ts: INVOCATION_RESERVE_MS); each record gets its own budget inside it
 * (`deadline.within(stepBudget)`), and every await of a step runs against that budget. So
 * the handler always returns before the function's timeout, with every record that could
 * not finish in `batchItemFailures` — never a timed-out batch, never an unsettled handler.
 *
 *   SQS event (recheck queue) — one step per record, RECORD_CONCURRENCY at a time. Every
 *     record that fails — retryably, by running out of time, or because it is malformed —
 *     is reported in `batchItemFailures`, so SQS redelivers it and, after the queue's
 *     maxReceiveCount, moves it to the dead-letter queue, whose alarm tells operators. A
 *     step that had already scheduled its recheck is done, even if a later part failed:
 *     redelivering it would start a second chain.
 *   direct invocation (the EventBridge rule) and SNS event (a topic invoking the gate; each
 *     `Records[].Sns.Message` is one input) — a retryable failure goes on the recheck queue
 *     (retryThroughQueue), so the queue's redelivery governs it like any later step; only
 *     when that fails too does the handler throw, and Lambda's asynchronous retries (and the
 *     function's failure destination) take over. An
 *     unreadable event (InvalidEventError) cannot be fixed by retrying: it is logged as an
 *     error and, when a topic is configured, reported to operators; the call returns.
 */
import { forInvocation } from '../log.js';
import type { InvocationContext } from '../ports.js';
import pLimit from 'p-limit';
import { InvalidEventError, errorMessage } from '../errors.js';
import type {
  CallOptions,
  GroupDirectory,
  GroupSnapshot,
  GroupTagWriter,
  HookInfo,
  LifecycleActions,
} from '../ports.js';
import { MAX_DELAY_SECONDS } from '../aws/facts.js';
import { Deadline, realTimers } from '../time.js';
import {
  CALL_ALLOWANCE_MS,
  INVOCATION_RESERVE_MS,
  MAX_PROBE_TIMEOUT_MS,
  RECORD_CONCURRENCY,
  stepBudgetMs,
} from './budget.js';
import { normaliseInput } from './input.js';
import { gateStep, type GateDeps, type StepOutcome, type StepProgress } from './step.js';

export { RECORD_CONCURRENCY };

export type { InvocationContext };

export interface SqsRecordLike {
  messageId: string;
  body: string;
  eventSource?: string;
}

export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** One record's budget: a worst-case step at the largest probe timeout any setting allows. */
const RECORD_BUDGET_MS = stepBudgetMs(MAX_PROBE_TIMEOUT_MS);

export type GateHandler = (
  event: unknown,
  context?: InvocationContext,
) => Promise<SqsBatchResponse | StepOutcome | StepOutcome[] | undefined>;

export function createGateHandler(containerDeps: GateDeps): GateHandler {
  const timers = containerDeps.timers ?? realTimers;
  return async (event, context) => {
    // Every line of this invocation carries its request id.
    const deps: GateDeps = {
      ...containerDeps,
      log: forInvocation(containerDeps.log, context),
    };
    const invocation = context
      ? Deadline.after(context.getRemainingTimeInMillis() - INVOCATION_RESERVE_MS, timers)
      : Deadline.never(timers);
    // A group's tags are read once per invocation at most, and reused by the container's
    // later invocations for GROUP_TAGS_TTL_MS (see cacheGroups).
    const memory = container(deps.config);
    const groups = cacheGroups(deps.groups, {
      store: memory.groups,
      clock: deps.clock,
      random: deps.random,
    });
    const invocationDeps: GateDeps = {
      ...deps,
      freshGroups: deps.groups,
      groups,
      ...(deps.groupTags ? { groupTags: forgetOnWrite(deps.groupTags, groups) } : {}),
    };
    // A hook's timing, for first steps: reused by the container for HOOK_TIMING_TTL_MS at most
    // (a hook changed just before a scale-in must not be held on its old timing for long).
    const describeHook = cacheHooks(deps.lifecycle, { store: memory.hooks, clock: deps.clock });

    /**
     * One input, inside its own budget; `progress` says how far it got. A direct input (not
     * SQS) keeps one call's time back for its retry through the queue (retryThroughQueue).
     */
    const runOne = (input: unknown, progress: StepProgress, viaSns = false, direct = true) => {
      const deadline = (direct ? invocation.less(CALL_ALLOWANCE_MS) : invocation).within(
        RECORD_BUDGET_MS,
      );
      // The step's own awaits all run against `deadline`; this is the guarantee on top.
      return deadline.run('gate step', () =>
        gateStep(input, invocationDeps, { deadline, progress, viaSns, describeHook }),
      );
    };

    if (isSqsEvent(event)) {
      const limit = pLimit(RECORD_CONCURRENCY);
      const failed = await Promise.all(
        event.Records.map((record) =>
          limit(async () => {
            const progress: StepProgress = { committed: false };
            try {
              await runOne(record.body, progress, false, false);
              return undefined;
            } catch (err) {
              if (progress.committed) {
                logCommitted(deps, err, { messageId: record.messageId });
                return undefined;
              }
              logFailure(deps, err, { messageId: record.messageId });
              return record.messageId;
            }
          }),
        ),
      );
      const batchItemFailures = failed
        .filter((id): id is string => id !== undefined)
        .map((itemIdentifier) => ({ itemIdentifier }));
      if (batchItemFailures.length) {
        deps.log.warn('gate batch: records left for redelivery', {
          records: event.Records.length,
          failed: batchItemFailures.length,
        });
      }
      return { batchItemFailures };
    }

    if (isSnsEvent(event)) {
      const outcomes: StepOutcome[] = [];
      let retryable: unknown;
      for (const record of event.Records) {
        const progress: StepProgress = { committed: false };
        try {
          outcomes.push(await runOne(record.Sns.Message, progress, true));
        } catch (err) {
          if (progress.committed) {
            logCommitted(deps, err, {});
            continue;
          }
          logFailure(deps, err, {});
          if (err instanceof InvalidEventError) await reportUnreadable(deps, err, invocation);
          else if (!(await retryThroughQueue(deps, invocation, record.Sns.Message, progress)))
            retryable ??= err;
        }
      }
      if (retryable !== undefined) throw retryable;
      return outcomes;
    }

    const spreadSeconds = deps.config.firstStepSpreadSeconds ?? 0;
    if (spreadSeconds > 0 && deps.rechecks && isFirstStep(event, deps.clock())) {
      // The first step of a lifecycle event, through the recheck queue a random 0–N s later
      // (GateConfig.firstStepSpreadSeconds): a large scale-in's events arrive together.
      const rechecks = deps.rechecks;
      const delaySeconds = Math.floor(Math.min(deps.random(), 0.999_999) * (spreadSeconds + 1));
      await invocation
        .within(CALL_ALLOWANCE_MS)
        .run('SendMessage', (signal) =>
          rechecks.schedule(JSON.stringify(event), delaySeconds, { signal }),
        );
      deps.log.info('gate first step queued', { delaySeconds });
      return undefined;
    }
    const progress: StepProgress = { committed: false };
    try {
      return await runOne(event, progress);
    } catch (err) {
      if (progress.committed) {
        logCommitted(deps, err, {});
        return undefined;
      }
      logFailure(deps, err, {});
      if (err instanceof InvalidEventError) {
        await reportUnreadable(deps, err, invocation);
        return undefined;
      }
      if (await retryThroughQueue(deps, invocation, JSON.stringify(event), progress)) {
        return undefined;
      }
      throw err;
    }
  };
}

/**
 * A direct (EventBridge or SNS) first step that failed retryably goes on the recheck queue,
 * so that SQS's visibility timeout and redrive govern its retries as they govern every later
 * step — not Lambda's two asynchronous retries within three minutes, after which the event
 * would go to the dead-letter queue and the hold would be lost to any outage longer than
 * that. It goes as its own recheck when it got that far (the hook read, the mode pinned: the
 * retry carries on in that mode), else as the input itself (nothing was pinned or done). The
 * delay is one recheck interval, which the heartbeat margin already counts (budget.ts).
 * false when even that SendMessage failed: the handler then throws, and Lambda retries.
 */
async function retryThroughQueue(
  deps: GateDeps,
  invocation: Deadline,
  input: string,
  progress: StepProgress,
): Promise<boolean> {
  const body = progress.retryBody ?? input;
  const delaySeconds = Math.min(deps.config.recheckSeconds, MAX_DELAY_SECONDS);
  try {
    await invocation
      .within(CALL_ALLOWANCE_MS)
      .run('SendMessage', (signal) => deps.rechecks.schedule(body, delaySeconds, { signal }));
  } catch (err) {
    deps.log.error('failed first step not queued; Lambda retries the event', {
      error: errorMessage(err),
    });
    return false;
  }
  deps.log.warn('failed first step queued for a retry through the recheck queue', {
    delaySeconds,
    as: progress.retryBody ? 'recheck' : 'input',
  });
  return true;
}

/** A lifecycle action's event (EventBridge, or the hook's own message): no step has run yet. */
function isFirstStep(event: unknown, nowMs: number): boolean {
  try {
    const input = normaliseInput(event, nowMs);
    return input.kind === 'action' && input.state === undefined && input.source !== 'recheck';
  } catch {
    return false; // unreadable: the step reports it as such
  }
}

function isSqsEvent(event: unknown): event is { Records: SqsRecordLike[] } {
  if (typeof event !== 'object' || event === null || !('Records' in event)) return false;
  const records = (event as { Records: unknown }).Records;
  return (
    Array.isArray(records) &&
    records.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as SqsRecordLike).messageId === 'string' &&
        typeof (r as SqsRecordLike).body === 'string',
    )
  );
}

/** An SNS event as Lambda delivers it when a topic invokes the function. */
function isSnsEvent(event: unknown): event is { Records: { Sns: { Message: string } }[] } {
  if (typeof event !== 'object' || event === null || !('Records' in event)) return false;
  const records = (event as { Records: unknown }).Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => {
      if (typeof r !== 'object' || r === null) return false;
      const sns = (r as { Sns?: unknown }).Sns;
      return (
        typeof sns === 'object' &&
        sns !== null &&
        typeof (sns as { Message?: unknown }).Message === 'string'
      );
    })
  );
}

function logCommitted(deps: GateDeps, err: unknown, fields: Record<string, unknown>): void {
  deps.log.warn('gate step failed after scheduling its recheck; not retried', {
    ...fields,
    error: err instanceof Error ? err.name : 'Error',
    detail: errorMessage(err),
  });
}

function logFailure(deps: GateDeps, err: unknown, fields: Record<string, unknown>): void {
  const name = err instanceof Error ? err.name : 'Error';
  if (err instanceof InvalidEventError) {
    deps.log.error('unreadable gate input', {
      ...fields,
      error: name,
      field: err.field,
      detail: err.message,
    });
  } else {
    deps.log.error('gate step failed; it will be retried', {
      ...fields,
      error: name,
      detail: errorMessage(err),
    });
  }
}

async function reportUnreadable(
  deps: GateDeps,
  err: InvalidEventError,
  invocation: Deadline,
): Promise<void> {
  const notifications = deps.notifications;
  if (!notifications) return;
  try {
    await invocation.within(CALL_ALLOWANCE_MS).run('Publish', (signal) =>
      notifications.publish(
        {
          subject: 'themis: error: unreadable lifecycle event',
          message: `The gate received an event it cannot read, so it took no action on it.\nProblem: ${err.message}\n\nIf it was a lifecycle action, Auto Scaling applies the hook's DefaultResult when its heartbeat timeout passes.\n`,
          attributes: { event: 'error', group: '-' },
        },
        { signal },
      ),
    );
  } catch (publishErr) {
    deps.log.error('notification not sent', { event: 'error', error: errorMessage(publishErr) });
  }
}

/**
 * How long a container reuses a group's tags. Every step needs them (probe settings), and
 * DescribeAutoScalingGroups counts against the account's Auto Scaling rate limit like a
 * heartbeat does: read per step, 200 held instances would cost 72,000 calls an hour at a
 * 10 s recheck; re-read every minute, each busy container still cost more than the
 * heartbeats of the holds it served (issue 10: 13.1 Auto Scaling calls per hour of hold
 * against a bound of 7.4). So a tag change reaches a hold that is already waiting within
 * GROUP_TAGS_TTL_MS, and a new hold at once only in a container that has not read the group
 * yet. What cannot wait that long does not come from here: the mode (dry run) is pinned by
 * the first step, a retaining ABANDON re-reads the group uncached (GateDeps.freshGroups), and
 * a container's own tag write drops its answer (forgetOnWrite).
 */
export const GROUP_TAGS_TTL_MS = 10 * 60_000;
/**
 * A container's first answer for a group is kept for a random part of the last half of
 * GROUP_TAGS_TTL_MS less: the containers of one scale-in start together, and with one fixed
 * lifetime they would all read their groups again in the same second, every TTL.
 */
const GROUP_TAGS_TTL_JITTER_MS = GROUP_TAGS_TTL_MS / 2;
/**
 * How long a container reuses a hook's timing (DescribeLifecycleHooks), counted from when the
 * call was sent. Only first steps read it, and the chain then carries it for the whole hold
 * (state.ts), so what this bounds is the hazard of a hook changed just before a scale-in: a
 * HeartbeatTimeout shortened less than HOOK_TIMING_TTL_MS before an action's first step may
 * be heartbeated on its old, longer spacing, and the hook can time out and apply its
 * DefaultResult. Long enough to cover the first steps of one scale-in, which arrive within
 * firstStepSpreadSeconds (10 s deployed) plus SQS's lag: each container then asks once per
 * scale-in, not once per batch; short enough that a deploy changing the hook and a scale-in
 * right after it (an instance refresh) meet the new timing unless they come within seconds.
 */
export const HOOK_TIMING_TTL_MS = 20_000;

interface KnownGroup {
  atMs: number;
  group: GroupSnapshot;
}

interface KnownHook {
  /** When the call that answered was sent: the answer is no older than that. */
  sentAtMs: number;
  hook: HookInfo;
}

interface ContainerMemory {
  groups: Map<string, KnownGroup>;
  hooks: Map<string, KnownHook>;
}

/**
 * The container's answers, kept per configuration object: a container parses its
 * configuration once at cold start and keeps it, so this lives as long as the container
 * (and a test or a simulation with its own configuration has its own).
 */
const containers = new WeakMap<object, ContainerMemory>();

function container(config: object): ContainerMemory {
  let memory = containers.get(config);
  if (!memory) containers.set(config, (memory = { groups: new Map(), hooks: new Map() }));
  return memory;
}

/**
 * DescribeLifecycleHooks for first steps: the records of one invocation share one call per
 * hook while it is in flight, and — with `known` — a container reuses an answer while it is
 * younger than HOOK_TIMING_TTL_MS (from when its call was sent), never longer. A missing hook
 * or a failed call is not remembered at all: the next first step asks again. A call in
 * flight is shared within the invocation only: one that hangs is never awaited by a later
 * invocation.
 */
export function cacheHooks(
  lifecycle: Pick<LifecycleActions, 'describeHook'>,
  known?: { store: Map<string, KnownHook>; clock: () => number },
): LifecycleActions['describeHook'] {
  const calls = new Map<string, Promise<HookInfo | undefined>>();
  return (groupName, hookName, opts) => {
    const key = `${groupName}/${hookName}`;
    const fresh = known?.store.get(key);
    if (fresh && known && known.clock() - fresh.sentAtMs < HOOK_TIMING_TTL_MS) {
      return Promise.resolve(fresh.hook);
    }
    let call = calls.get(key);
    if (!call) {
      const sentAtMs = known?.clock();
      call = lifecycle.describeHook(groupName, hookName, opts);
      calls.set(key, call);
      call.then(
        (hook) => {
          calls.delete(key);
          if (hook && known && sentAtMs !== undefined) known.store.set(key, { sentAtMs, hook });
        },
        () => calls.delete(key),
      );
    }
    return call;
  };
}

/** A group directory whose cached answer for a group can be dropped. */
export interface CachedGroups extends GroupDirectory {
  /** The group's tags changed (this container wrote them): ask again next time. */
  forget(name: string): void;
}

/**
 * describeGroups answered once per group name for the life of one invocation, and — with
 * `known` — from answers up to GROUP_TAGS_TTL_MS old. Only settled answers naming the group
 * are kept beyond the invocation: a call that hangs is never awaited by a later one, and a
 * group not found is asked for again by the next invocation. The first caller's signal goes
 * with the call; every caller races it against its own deadline anyway.
 */
export function cacheGroups(
  groups: GroupDirectory,
  known?: { store: Map<string, KnownGroup>; clock: () => number; random?: () => number },
): CachedGroups {
  const cache = new Map<string, Promise<GroupSnapshot | undefined>>();
  const one = (name: string, opts?: CallOptions) => {
    const fresh = known?.store.get(name);
    if (fresh && known && known.clock() - fresh.atMs < GROUP_TAGS_TTL_MS) {
      return Promise.resolve(fresh.group);
    }
    let hit = cache.get(name);
    if (!hit) {
      hit = groups
        .describeGroups([name], opts)
        .then((found) => found.find((g) => g.name === name))
        .then((group) => {
          if (group && known) {
            // A container's first answer counts as older than it is by up to the jitter
            // (kept ½–1 TTL); its later ones keep the phase that set.
            const first = !known.store.has(name);
            const age = first ? Math.floor((known.random?.() ?? 0) * GROUP_TAGS_TTL_JITTER_MS) : 0;
            known.store.set(name, { atMs: known.clock() - age, group });
          }
          return group;
        });
      // A failed call is not cached: the next record asks again.
      hit.catch(() => cache.delete(name));
      cache.set(name, hit);
    }
    return hit;
  };
  return {
    async describeGroups(names, opts) {
      const found = await Promise.all(names.map((name) => one(name, opts)));
      return found.filter((g): g is GroupSnapshot => g !== undefined);
    },
    findGroupsByTag: (key, value, opts) => groups.findGroupsByTag(key, value, opts),
    forget(name) {
      cache.delete(name);
      const entry = known?.store.get(name);
      // Expired, not deleted: the next answer keeps the container's phase (no new jitter).
      if (entry) known?.store.set(name, { ...entry, atMs: -Infinity });
    },
  };
}

/**
 * The group-tag writer of one invocation: after a write (or a failed one, which may have
 * been applied) the invocation's and the container's answers for that group are dropped, so
 * the next step reads what was written — the launch gate's abandon count would otherwise
 * count from an answer up to GROUP_TAGS_TTL_MS old.
 */
export function forgetOnWrite(writer: GroupTagWriter, groups: CachedGroups): GroupTagWriter {
  return {
    async setTag(groupName, key, value, opts) {
      try {
        await writer.setTag(groupName, key, value, opts);
      } finally {
        groups.forget(groupName);
      }
    },
  };
}
