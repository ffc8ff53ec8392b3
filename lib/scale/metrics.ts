/**
 * A service's metric for one run: `{ url, field }` (GET the URL, read a numeric field of its
 * JSON answer) or `{ sqs_queue_url }` (the queue's ApproximateNumberOfMessages).
 *
 * Every read settles by its deadline whatever the other side does; a metric that cannot be
 * read is an error with the reason, and the service is then held at min/max only (its
 * events are not evaluated): a missing number never scales anything.
 */
import type { CallOptions, QueueDepth } from '../ports.js';
import { Deadline } from '../time.js';
import type { MetricSource } from './config.js';

/** Long enough for a metrics endpoint under load, short enough for a one-minute schedule. */
export const METRIC_TIMEOUT_MS = 5_000;
/** A metrics answer is a small JSON document; more than this is refused, not buffered. */
export const MAX_METRIC_BODY_BYTES = 64 * 1024;

export class MetricError extends Error {
  override name = 'MetricError';
}

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export interface MetricReader {
  read(source: MetricSource, deadline?: Deadline): Promise<number>;
}

/** The value at a dotted path (`queue.depth`, `items.0.n`), as a finite number. */
export function fieldValue(document: unknown, field: string): number {
  let cursor: unknown = document;
  for (const step of field.split('.')) {
    if (cursor === null || typeof cursor !== 'object' || !Object.hasOwn(cursor, step)) {
      throw new MetricError(`field ${field} not found`);
    }
    cursor = (cursor as Record<string, unknown>)[step];
  }
  const n = typeof cursor === 'string' && cursor.trim() !== '' ? Number(cursor) : cursor;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new MetricError(
      `field ${field} is not a number: ${JSON.stringify(cursor)?.slice(0, 60)}`,
    );
  }
  return n;
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new MetricError(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readUrl(url: string, field: string, fetchFn: FetchFn, opts: CallOptions) {
  // No redirects: the configured URL is the one asked, nothing it points elsewhere.
  const response = await fetchFn(url, { method: 'GET', redirect: 'manual', signal: opts.signal });
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel();
    throw new MetricError(`HTTP ${response.status}`);
  }
  const text = await readCapped(response, MAX_METRIC_BODY_BYTES);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new MetricError(`answer is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return fieldValue(document, field);
}

export function createMetricReader(deps: { queues: QueueDepth; fetch?: FetchFn }): MetricReader {
  const fetchFn = deps.fetch ?? ((url, init) => fetch(url, init));
  return {
    read(source, deadline = Deadline.after(METRIC_TIMEOUT_MS)) {
      const what = source.kind === 'url' ? `GET ${source.url}` : `queue depth ${source.queueUrl}`;
      return deadline.run(what, (signal) =>
        source.kind === 'url'
          ? readUrl(source.url, source.field, fetchFn, { signal })
          : deps.queues.approximateMessages(source.queueUrl, { signal }),
      );
    },
  };
}
