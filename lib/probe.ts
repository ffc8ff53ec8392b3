/**
 * The probe engine: `GET http://<address>:<metricsPort><busyURL>` and classify the answer.
 *
 * themis's rule: the body, trimmed, compared case-insensitively with busyValue first, then
 * idleValue. Everything else is *unknown*, with a reason — another body, a non-2xx status,
 * a redirect (never followed), an upgrade, a refused or reset connection, something that is
 * not HTTP, a timeout, a body over the cap. Unknown never removes protection (see
 * lib/protect/plan.ts).
 *
 * Time: every probe settles by its own deadline (`timeoutMs`, on the injected `Timers`),
 * whatever the instance does — answers 101 and keeps or closes the socket, sends 1xx
 * answers forever, never finishes its headers, trickles a body with no length. The deadline
 * is ours, not the HTTP client's: got drops its timers on an upgrade, and its timers are
 * unref'd, so a probe left to them can stay pending until the event loop drains under the
 * handler. Ours keeps the loop alive until the probe settles, then destroys the request.
 */
import { LAMBDA_FILE_DESCRIPTORS } from './aws/facts.js';
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import got, { RequestError } from 'got';
import pLimit from 'p-limit';
import { AddressNotAllowedError } from './errors.js';
import type { ProbeResult, ProbeSettings, Prober } from './ports.js';
import { escapeUntrusted } from './text.js';
import { Deadline, DeadlineExceededError, realTimers, type Timers } from './time.js';

/** A status answer is one word; anything longer than this is not one. */
export const DEFAULT_MAX_BODY_BYTES = 4096;
/**
 * probeMany's in-flight limit when its caller names none (and the benchmark's reference
 * level). Scans — the protect function's and the CLI's — derive theirs from the group:
 * `defaultProbeConcurrency`.
 */
export const DEFAULT_CONCURRENCY = 50;

export { LAMBDA_FILE_DESCRIPTORS };
/**
 * The runtime's own descriptors, rounded up: 21 are open with the protect function loaded
 * (bench/scan.ts, "open descriptors … import only").
 */
export const RUNTIME_DESCRIPTORS = 24;
/** Sockets one AWS SDK v3 client may hold: its NodeHttpHandler's default maxSockets. */
export const SDK_SOCKETS_PER_CLIENT = 50;
/** SDK clients a scan's region uses: Auto Scaling and EC2 (lib/protect/aws-ports.ts). */
export const SCAN_SDK_CLIENTS = 2;
/**
 * Probe sockets one invocation may hold at once: what Lambda allows, less the runtime's
 * and every SDK client's full share — 900.
 */
export const PROBE_DESCRIPTOR_BUDGET =
  LAMBDA_FILE_DESCRIPTORS - RUNTIME_DESCRIPTORS - SCAN_SDK_CLIENTS * SDK_SOCKETS_PER_CLIENT;

/** Each of `groups` scanned at once gets an equal share of the probe sockets. */
export function probeDescriptorShare(
  groups: number,
  descriptors: number = PROBE_DESCRIPTOR_BUDGET,
): number {
  return Math.floor(descriptors / Math.max(1, Math.floor(groups)));
}

/**
 * The in-flight limit for probing `instances` with `descriptors` sockets to spare: all of
 * them at once when they fit, else as many as fit.
 *
 * Why all at once: a hung instance holds its slot for a whole timeout, so with L slots and
 * H hung instances a scan takes ⌈H / L⌉ timeouts (50 slots, 100 hung: two). With L ≥ H it
 * takes one. Within the budget — 900 sockets, so a group of up to 1,000 instances with up to
 * 900 of them hung — hung instances cost one timeout; past it the budget wins, because a
 * Lambda out of descriptors fails every call, AWS ones included.
 */
export function defaultProbeConcurrency(
  instances: number,
  descriptors: number = PROBE_DESCRIPTOR_BUDGET,
): number {
  return Math.max(1, Math.min(Math.floor(instances), Math.floor(descriptors)));
}
/** Untrusted text quoted in a reason (and so in logs and notices) is cut to this many characters. */
export const MAX_QUOTED_CHARS = 40;

/**
 * One HTTP exchange, as the prober asks it of a transport. The default transport is got
 * (`gotTransport`); the fleet simulator supplies its own, so that the deadline around it —
 * product code — is what it exercises.
 */
export interface ProbeExchange {
  url: string;
  maxBodyBytes: number;
  /**
   * Aborted when the probe's deadline passes or its caller gives up: stop and free the
   * socket. A transport that ignores it is still cut off by the prober's deadline.
   */
  signal: AbortSignal;
  /** How far the exchange got, kept up to date by the transport; a timeout reason names it. */
  progress: ProbeProgress;
}

export interface ProbeProgress {
  stage: 'connecting' | 'waiting for the answer' | 'reading the body';
  /** Interim 1xx answers received (100 Continue, 102 Processing, 103 Early Hints…). */
  informational: number;
  /** Body bytes received. */
  bodyBytes: number;
}

export interface ProbeReply {
  statusCode: number;
  body: string;
}

/** Resolves with the whole answer, or rejects — with a ProbeFailure when it can say why. */
export type ProbeTransport = (exchange: ProbeExchange) => Promise<ProbeReply>;

/** An exchange that ended without a usable answer; `message` is the probe's reason. */
export class ProbeFailure extends Error {
  override name = 'ProbeFailure';
}

export interface ProberOptions {
  /** Refuse (throw) any address outside 127.0.0.0/8: tests, benchmarks and the sandbox. */
  loopbackOnly?: boolean;
  maxBodyBytes?: number;
  /** The clock and timers of each probe's deadline (the simulator's are virtual). */
  timers?: Timers;
  /** The HTTP exchange (default: got, see `gotTransport`). */
  transport?: ProbeTransport;
}

const LOOPBACK =
  /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.test(address);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Untrusted text in a reason: control characters escaped, bounded, in double quotes. */
export function quoteUntrusted(text: string, maxChars = MAX_QUOTED_CHARS): string {
  return `"${escapeUntrusted(text, maxChars).replaceAll('"', '\\"')}"`;
}

/** Trim, compare case-insensitively; busyValue wins when both match. */
export function classifyBody(
  body: string,
  busyValue: string,
  idleValue: string,
): { status: 'busy' | 'idle' } | { status: 'unknown'; reason: string } {
  const answer = body.trim().toLowerCase();
  if (answer === busyValue.trim().toLowerCase()) return { status: 'busy' };
  if (answer === idleValue.trim().toLowerCase()) return { status: 'idle' };
  return { status: 'unknown', reason: `unexpected answer ${quoteUntrusted(body.trim())}` };
}

export function probeUrl(
  address: string,
  settings: Pick<ProbeSettings, 'metricsPort' | 'busyURL'>,
): string {
  return `http://${address}:${settings.metricsPort}${settings.busyURL}`;
}

/** The reason a timed-out probe gives: the budget and how far the exchange got. */
export function timeoutReason(timeoutMs: number, progress: ProbeProgress): string {
  const informational =
    progress.informational > 0
      ? `, after ${progress.informational} interim 1xx answer${progress.informational === 1 ? '' : 's'}`
      : '';
  const where =
    progress.stage === 'reading the body'
      ? `reading the body, ${progress.bodyBytes} bytes so far`
      : `${progress.stage}${informational}`;
  return `timeout after ${timeoutMs} ms (${where})`;
}

/** The caller's signal fired before the probe had an answer. */
class ProbeAborted extends Error {}

/** The HTTP prober: the transport (got unless told otherwise) inside a deadline of our own. */
export function createHttpProber(options: ProberOptions = {}): Prober {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timers = options.timers ?? realTimers;
  const transport = options.transport ?? gotTransport();

  return {
    async probe(address, settings, opts) {
      if (!IPV4.test(address)) {
        return {
          status: 'unknown',
          reason: `not an IPv4 address: ${quoteUntrusted(address)}`,
          latencyMs: 0,
        };
      }
      if (options.loopbackOnly && !isLoopbackAddress(address))
        throw new AddressNotAllowedError(address);
      const started = timers.now();
      const latency = () => Math.max(0, Math.round(timers.now() - started));
      const caller = opts?.signal;
      if (caller?.aborted) return { status: 'unknown', reason: 'aborted', latencyMs: 0 };
      const progress: ProbeProgress = {
        stage: 'connecting',
        informational: 0,
        bodyBytes: 0,
      };
      try {
        const { statusCode, body } = await Deadline.after(settings.timeoutMs, timers).run(
          // Stryker disable next-line StringLiteral: equivalent — a timeout's reason is timeoutReason's, not this label
          `probe ${address}`,
          (deadlineSignal) =>
            exchangeUntilAborted(transport, deadlineSignal, caller, {
              url: probeUrl(address, settings),
              maxBodyBytes,
              progress,
            }),
        );
        if (statusCode < 200 || statusCode > 299) {
          return { status: 'unknown', reason: `HTTP ${statusCode}`, latencyMs: latency() };
        }
        return {
          ...classifyBody(body, settings.busyValue, settings.idleValue),
          latencyMs: latency(),
        };
      } catch (err) {
        let reason: string;
        if (err instanceof DeadlineExceededError)
          reason = timeoutReason(settings.timeoutMs, progress);
        else if (err instanceof ProbeAborted) reason = 'aborted';
        else if (err instanceof ProbeFailure) reason = err.message;
        else reason = escapeUntrusted(err instanceof Error ? err.message : String(err), 200);
        return { status: 'unknown', reason, latencyMs: latency() };
      }
    },
  };
}

/**
 * The transport, aborted by the deadline or by the caller, whichever fires first; the
 * caller's abort also settles at once (ProbeAborted) whatever the transport does with it.
 */
function exchangeUntilAborted(
  transport: ProbeTransport,
  deadlineSignal: AbortSignal,
  caller: AbortSignal | undefined,
  exchange: Omit<ProbeExchange, 'signal'>,
): Promise<ProbeReply> {
  if (!caller) return transport({ ...exchange, signal: deadlineSignal });
  const controller = new AbortController();
  return new Promise<ProbeReply>((resolve, reject) => {
    const stopWatching = whenAborted(caller, () => {
      controller.abort(caller.reason);
      reject(new ProbeAborted());
    });
    const onDeadline = () => {
      stopWatching();
      controller.abort(deadlineSignal.reason);
    };
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent — a signal aborts once
    deadlineSignal.addEventListener('abort', onDeadline, { once: true });
    // Stryker disable next-line BlockStatement: equivalent — leaves only listeners that can no longer act on a settled promise
    const cleanUp = () => {
      stopWatching();
      // Stryker disable next-line StringLiteral: equivalent — as above: the deadline's timer is cleared once the work settles
      deadlineSignal.removeEventListener('abort', onDeadline);
    };
    transport({ ...exchange, signal: controller.signal }).then(
      (reply) => {
        cleanUp();
        resolve(reply);
      },
      (err: unknown) => {
        cleanUp();
        reject(err);
      },
    );
  });
}

/**
 * The probes waiting on each caller's signal. One listener per signal, not one per probe:
 * a scan passes the same signal to hundreds of probes, and Node warns of a leak past ten
 * listeners on one AbortSignal.
 */
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/** Call `fn` once when `signal` aborts; the returned function stops watching. */
function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let waiting = watchers.get(signal);
  if (!waiting) {
    const set = new Set<() => void>();
    waiting = set;
    watchers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        watchers.delete(signal);
        for (const f of set) f();
      },
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent — a signal aborts once
      { once: true },
    );
  }
  waiting.add(fn);
  const set = waiting;
  // Stryker disable next-line BlockStatement: equivalent — a stale watcher only aborts and rejects what has settled
  return () => {
    set.delete(fn);
  };
}

class BodyTooLarge extends Error {}

/**
 * The default transport: got, built once, configured for one small question per connection:
 * no retries, no redirects, no keep-alive, no timers of its own (the prober's deadline is the
 * only one), no decompression. Still ~1.9 × the CPU of a bare node:http GET, and no option
 * of got's changes that (measured: bench/probe-cpu.ts, docs/bench.md).
 */
export function gotTransport(): ProbeTransport {
  const client = got.extend({
    // A probe is one question inside a scan; the next scan is the retry.
    // Stryker disable next-line ObjectLiteral: equivalent — got's streams never retry on their own (they emit 'retry' to their caller); stated for the reader
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    decompress: false,
    // Node ≥ 19's global agent keeps sockets alive, and a scan asks each instance once: kept
    // sockets only pile up (~900 descriptors open after a 1,000-instance scan, measured by
    // bench/scan.ts, against Lambda's limit of 1,024). One connection per probe, closed after it.
    // Stryker disable next-line ObjectLiteral: equivalent — a new Agent's keepAlive is false by default (only Node's global agent keeps alive); stated for the reader
    agent: { http: new Agent({ keepAlive: false }) },
    headers: { 'user-agent': 'themis-probe', accept: 'text/plain' },
  });

  return (exchange) =>
    new Promise<ProbeReply>((resolve, reject) => {
      const { signal, progress, maxBodyBytes } = exchange;
      if (signal.aborted) {
        reject(new ProbeFailure('aborted'));
        return;
      }
      const stream = client.stream(exchange.url);
      const chunks: Buffer[] = [];
      let statusCode = 0;
      let settled = false;
      // A destroyed stream emits nothing more, so `settled` only spares a second, ignored
      // reject; and `signal` is this exchange's alone. Hence the equivalents below.
      const fail = (err: unknown) => {
        // Stryker disable next-line ConditionalExpression: equivalent — see above
        if (settled) return;
        // Stryker disable next-line BooleanLiteral: equivalent — see above
        settled = true;
        // Stryker disable next-line StringLiteral: equivalent — see above
        signal.removeEventListener('abort', onAbort);
        stream.destroy();
        reject(
          err instanceof ProbeFailure
            ? err
            : new ProbeFailure(describeGotFailure(err, maxBodyBytes)),
        );
      };
      const onAbort = () => fail(new ProbeFailure('aborted'));
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent — a signal aborts once
      signal.addEventListener('abort', onAbort, { once: true });

      stream.once('socket', (socket: Socket) => {
        if (socket.connecting)
          socket.once('connect', () => (progress.stage = 'waiting for the answer'));
        else progress.stage = 'waiting for the answer';
      });
      stream.on('information', () => progress.informational++);
      // An upgrade hands the socket over and ends got's part in the exchange (and its timers):
      // nothing else would ever settle the probe or close the socket.
      stream.once('upgrade', (response: { statusCode?: number }, socket: Socket) => {
        socket.destroy();
        // Stryker disable next-line LogicalOperator: equivalent — an upgrade's status is 101, never absent
        fail(new ProbeFailure(`HTTP ${response.statusCode ?? 101}: an upgrade is not an answer`));
      });
      stream.once(
        'response',
        (res: { statusCode: number; headers: Record<string, string | undefined> }) => {
          statusCode = res.statusCode;
          progress.stage = 'reading the body';
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > maxBodyBytes) fail(new BodyTooLarge());
        },
      );
      stream.on('data', (chunk: Buffer) => {
        progress.bodyBytes += chunk.length;
        if (progress.bodyBytes > maxBodyBytes) {
          fail(new BodyTooLarge());
          return;
        }
        chunks.push(chunk);
      });
      stream.once('error', fail);
      stream.once('end', () => {
        // Stryker disable next-line ConditionalExpression: equivalent — see fail: no end after it
        if (settled) return;
        // Stryker disable next-line BooleanLiteral: equivalent — see fail
        settled = true;
        // Stryker disable next-line StringLiteral: equivalent — see fail
        signal.removeEventListener('abort', onAbort);
        resolve({ statusCode, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
}

/** llhttp's codes for answers that are not HTTP (node's `HPE_*`), in words. */
const PARSE_ERRORS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'headers larger than the client accepts',
  HPE_INVALID_CHUNK_SIZE: 'invalid chunked encoding',
  HPE_INVALID_CONSTANT: 'not an HTTP answer',
  HPE_INVALID_VERSION: 'not an HTTP answer',
  HPE_INVALID_STATUS: 'not an HTTP answer',
};

/**
 * Why got's stream failed, in words. (A BodyTooLarge is ours, handed to `fail` directly, never
 * wrapped; got's RequestError always carries a code, `ERR_GOT_REQUEST_ERROR` at least; and with
 * followRedirect off a redirect is an answer, `HTTP 3xx`, not an error.)
 */
function describeGotFailure(err: unknown, maxBodyBytes: number): string {
  if (err instanceof BodyTooLarge) return `body larger than ${maxBodyBytes} bytes`;
  if (err instanceof RequestError) {
    if (err.code === 'ECONNREFUSED') return 'connection refused';
    if (err.code === 'ECONNRESET') return 'connection reset';
    if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'host unreachable';
    if (err.code.startsWith('HPE_'))
      return `${PARSE_ERRORS[err.code] ?? 'malformed HTTP answer'} (${err.code})`;
    return `${err.code}: ${escapeUntrusted(err.message, 200)}`;
  }
  return escapeUntrusted(err instanceof Error ? err.message : String(err), 200);
}

/**
 * Probes started in one turn of the event loop before it handles the I/O of those already
 * started. A probe's deadline runs from its start, and setting a request up costs CPU (about
 * 0.5–1 ms each, more on a Lambda's fraction of a vCPU): hundreds started in one burst would
 * spend their own timeouts being set up, and an instance that answered in time would be
 * classified by a deadline that fired before its answer was read. Started a few at a time,
 * the answers are read between batches, whatever the CPU share.
 */
export const PROBES_PER_TURN = 16;

/**
 * Probe many instances with at most `concurrency` requests in flight, started at most
 * PROBES_PER_TURN per event-loop turn; results keep input order.
 */
export async function probeMany<T extends { address: string }>(
  prober: Prober,
  items: readonly T[],
  settings: ProbeSettings,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<Array<T & { result: ProbeResult }>> {
  const limit = pLimit(concurrency);
  const pace = pacer(PROBES_PER_TURN);
  return Promise.all(
    items.map((item) =>
      limit(async () => {
        await pace();
        return { ...item, result: await prober.probe(item.address, settings) };
      }),
    ),
  );
}

/** Resolves at once for the first `perTurn` callers of a turn; later ones wait for the next turn. */
function pacer(perTurn: number): () => Promise<void> {
  let started = 0;
  let nextTurn: Promise<void> | undefined;
  return async () => {
    while (started >= perTurn) {
      nextTurn ??= new Promise<void>((resolve) =>
        setImmediate(() => {
          started = 0;
          nextTurn = undefined;
          resolve();
        }),
      );
      await nextTurn;
    }
    started++;
  };
}
