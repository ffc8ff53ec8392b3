/** Small helpers shared by the adapters. */
import type { CallOptions } from '../time.js';

export { chunk } from '../collections.js';

/** Ids or names for an error message: the first few and how many more, never a wall of text. */
export function listForMessage(items: readonly string[], shown = 5): string {
  if (items.length <= shown) return items.join(',');
  return `${items.slice(0, shown).join(',')} +${items.length - shown} more`;
}

/**
 * The token for the next page, or undefined after the last one. A token handed back
 * unchanged would page for ever (until the deadline): an error instead.
 */
export function nextToken(
  previous: string | undefined,
  next: string | undefined,
): string | undefined {
  if (!next) return undefined;
  if (next === previous) throw new Error(`the service returned the same NextToken twice`);
  return next;
}

/** The per-call options every SDK v3 `client.send(command, options)` accepts. */
export interface SendOptions {
  abortSignal?: AbortSignal;
}

/**
 * One SDK call under the caller's signal. The signal goes to the SDK, which destroys the
 * HTTP attempt in flight, cuts short its retry backoff and makes no further attempt. The
 * returned promise also settles by itself the moment the signal aborts, so the deadline
 * holds even where something between us and the socket does not watch the signal (a
 * middleware, a custom request handler, a test stub). An already aborted signal makes no
 * call at all. Rejects with the signal's reason (a DeadlineExceededError from
 * `Deadline.run`).
 */
export function sendUnder<T>(
  opts: CallOptions | undefined,
  send: (options: SendOptions) => Promise<T>,
): Promise<T> {
  const signal = opts?.signal;
  if (!signal) return send({});
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => signal.removeEventListener('abort', onAbort);
    let work: Promise<T>;
    try {
      work = send({ abortSignal: signal });
    } catch (err) {
      done();
      reject(err);
      return;
    }
    // After an abort the SDK's own rejection arrives later, or never: it is settled here
    // already, and must not surface as an unhandled rejection.
    work.then(
      (value) => {
        done();
        resolve(value);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`aborted: ${String(reason)}`);
}
