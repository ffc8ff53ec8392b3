/**
 * The gate's Lambda handler logic: the only place that maps errors to retry behaviour.
 *
 *   direct invocation (the EventBridge rule) — one step. A retryable failure throws, so
 *     Lambda's asynchronous retries (and the function's failure destination) take over.
 *     An unreadable event (InvalidEventError) cannot be fixed by retrying: it is logged as
 *     an error and, when a topic is configured, reported to operators; the call returns.
 *   SQS event (recheck queue) — one step per record, a few at a time. Every record that
 *     fails — retryably, or because it is malformed — is reported in `batchItemFailures`
 *     (never a crash of the batch), so SQS redelivers it and, after the queue's
 *     maxReceiveCount, moves it to the dead-letter queue, whose alarm tells operators.
 *     Records that succeed are deleted by Lambda.
 */
import pLimit from 'p-limit';
import { InvalidEventError, errorMessage } from '../errors.js';
import type { GroupDirectory, GroupSnapshot } from '../ports.js';
import { gateStep, type GateDeps, type StepOutcome } from './step.js';

/** The part of the Lambda context the gate uses. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

export interface SqsRecordLike {
  messageId: string;
  body: string;
  eventSource?: string;
}

export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/**
 * Records of one batch handled at once. Each step is a probe plus two or three AWS calls;
 * a few in parallel keep a ten-record batch well inside the function's timeout without
 * adding to Auto Scaling throttling.
 */
export const RECORD_CONCURRENCY = 5;

export type GateHandler = (
  event: unknown,
  context?: InvocationContext,
) => Promise<SqsBatchResponse | StepOutcome | undefined>;

export function createGateHandler(deps: GateDeps): GateHandler {
  return async (event, context) => {
    const remainingMs = context ? () => context.getRemainingTimeInMillis() : undefined;
    // Tags are read per invocation at most, never carried over to the next one.
    const invocationDeps: GateDeps = { ...deps, groups: cacheGroups(deps.groups) };
    const options = remainingMs ? { remainingMs } : {};

    if (isSqsEvent(event)) {
      const limit = pLimit(RECORD_CONCURRENCY);
      const failed = await Promise.all(
        event.Records.map((record) =>
          limit(async () => {
            try {
              await gateStep(record.body, invocationDeps, options);
              return undefined;
            } catch (err) {
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

    try {
      return await gateStep(event, invocationDeps, options);
    } catch (err) {
      logFailure(deps, err, {});
      if (!(err instanceof InvalidEventError)) throw err;
      await reportUnreadable(deps, err);
      return undefined;
    }
  };
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

async function reportUnreadable(deps: GateDeps, err: InvalidEventError): Promise<void> {
  if (!deps.notifications) return;
  try {
    await deps.notifications.publish({
      subject: 'themis: error: unreadable lifecycle event',
      message: `The gate received an event it cannot read, so it took no action on it.\nProblem: ${err.message}\n\nIf it was a lifecycle action, Auto Scaling applies the hook's DefaultResult when its heartbeat timeout passes.\n`,
      attributes: { event: 'error', group: '-' },
    });
  } catch (publishErr) {
    deps.log.error('notification not sent', { event: 'error', error: errorMessage(publishErr) });
  }
}

/** describeGroups answered once per group name for the life of one invocation. */
export function cacheGroups(groups: GroupDirectory): GroupDirectory {
  const cache = new Map<string, Promise<GroupSnapshot | undefined>>();
  const one = (name: string) => {
    let hit = cache.get(name);
    if (!hit) {
      hit = groups.describeGroups([name]).then((found) => found.find((g) => g.name === name));
      // A failed call is not cached: the next record asks again.
      hit.catch(() => cache.delete(name));
      cache.set(name, hit);
    }
    return hit;
  };
  return {
    async describeGroups(names) {
      const found = await Promise.all(names.map(one));
      return found.filter((g): g is GroupSnapshot => g !== undefined);
    },
    findGroupsByTag: (key, value) => groups.findGroupsByTag(key, value),
  };
}
