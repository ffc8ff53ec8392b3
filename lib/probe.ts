/**
 * The probe engine: `GET http://<address>:<metricsPort><busyURL>` and classify the answer.
 *
 * themis's rule: the body, trimmed, compared case-insensitively with busyValue first, then
 * idleValue. Everything else is *unknown*, with a reason — another body, a non-2xx status,
 * a redirect (never followed), a refused or reset connection, a timeout, a body over the
 * cap. Unknown never removes protection (see lib/protect/plan.ts).
 */
import { Agent } from 'node:http';
import got, { type Got, RequestError } from 'got';
import pLimit from 'p-limit';
import { AddressNotAllowedError } from './errors.js';
import type { ProbeResult, ProbeSettings, Prober } from './ports.js';

/** A status answer is one word; anything longer than this is not one. */
export const DEFAULT_MAX_BODY_BYTES = 4096;
/** In flight at once: enough to scan 1,000 instances inside ~2 timeouts, few enough sockets for a Lambda. */
export const DEFAULT_CONCURRENCY = 50;

export interface ProberOptions {
  /** Refuse (throw) any address outside 127.0.0.0/8: tests, benchmarks and the sandbox. */
  loopbackOnly?: boolean;
  maxBodyBytes?: number;
}

const LOOPBACK =
  /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.test(address);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Trim, compare case-insensitively; busyValue wins when both match. */
export function classifyBody(
  body: string,
  busyValue: string,
  idleValue: string,
): { status: 'busy' | 'idle' } | { status: 'unknown'; reason: string } {
  const answer = body.trim().toLowerCase();
  if (answer === busyValue.trim().toLowerCase()) return { status: 'busy' };
  if (answer === idleValue.trim().toLowerCase()) return { status: 'idle' };
  return {
    status: 'unknown',
    reason: `unexpected answer ${JSON.stringify(truncate(body.trim(), 40))}`,
  };
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

export function probeUrl(
  address: string,
  settings: Pick<ProbeSettings, 'metricsPort' | 'busyURL'>,
): string {
  return `http://${address}:${settings.metricsPort}${settings.busyURL}`;
}

class BodyTooLarge extends Error {}

/** The HTTP prober. One got instance, built once: no retries, no redirects, no keep-alive. */
export function createHttpProber(options: ProberOptions = {}): Prober {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const client: Got = got.extend({
    // A probe is one question inside a scan; the next scan is the retry.
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    decompress: false,
    // Node ≥ 19's global agent keeps sockets alive, and a scan asks each instance once: kept
    // sockets only pile up (~900 descriptors open after a 1,000-instance scan, measured by
    // bench/scan.ts, against Lambda's limit of 1,024). One connection per probe, closed after it.
    agent: { http: new Agent({ keepAlive: false }) },
    headers: { 'user-agent': 'themis-probe', accept: 'text/plain' },
  });

  return {
    async probe(address, settings) {
      if (!IPV4.test(address)) {
        return {
          status: 'unknown',
          reason: `not an IPv4 address: ${JSON.stringify(address)}`,
          latencyMs: 0,
        };
      }
      if (options.loopbackOnly && !isLoopbackAddress(address))
        throw new AddressNotAllowedError(address);
      const started = performance.now();
      const latency = () => Math.round(performance.now() - started);
      try {
        const { statusCode, body } = await fetchCapped(
          client,
          probeUrl(address, settings),
          settings.timeoutMs,
          maxBodyBytes,
        );
        if (statusCode < 200 || statusCode > 299) {
          return { status: 'unknown', reason: `HTTP ${statusCode}`, latencyMs: latency() };
        }
        return {
          ...classifyBody(body, settings.busyValue, settings.idleValue),
          latencyMs: latency(),
        };
      } catch (err) {
        return {
          status: 'unknown',
          reason: describeFailure(err, settings.timeoutMs, maxBodyBytes),
          latencyMs: latency(),
        };
      }
    },
  };
}

function fetchCapped(
  client: Got,
  url: string,
  timeoutMs: number,
  maxBodyBytes: number,
): Promise<{ statusCode: number; body: string }> {
  return new Promise((resolve, reject) => {
    // `request` is the total budget: connect, headers and body together.
    const stream = client.stream(url, { timeout: { request: timeoutMs } });
    const chunks: Buffer[] = [];
    let size = 0;
    let statusCode = 0;
    stream.on(
      'response',
      (res: { statusCode: number; headers: Record<string, string | undefined> }) => {
        statusCode = res.statusCode;
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBodyBytes)
          stream.destroy(new BodyTooLarge());
      },
    );
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        stream.destroy(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve({ statusCode, body: Buffer.concat(chunks).toString('utf8') }));
  });
}

function describeFailure(err: unknown, timeoutMs: number, maxBodyBytes: number): string {
  if (err instanceof BodyTooLarge) return `body larger than ${maxBodyBytes} bytes`;
  if (err instanceof RequestError) {
    if (err.cause instanceof BodyTooLarge) return `body larger than ${maxBodyBytes} bytes`;
    if (err.name === 'TimeoutError' || err.code === 'ETIMEDOUT')
      return `timeout after ${timeoutMs} ms`;
    if (err.code === 'ECONNREFUSED') return 'connection refused';
    if (err.code === 'ECONNRESET') return 'connection reset';
    if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'host unreachable';
    if (err.name === 'MaxRedirectsError') return 'redirect';
    return err.code ? `${err.code}: ${err.message}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Probe many instances with at most `concurrency` requests in flight; results keep input order. */
export async function probeMany<T extends { address: string }>(
  prober: Prober,
  items: readonly T[],
  settings: ProbeSettings,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<Array<T & { result: ProbeResult }>> {
  const limit = pLimit(concurrency);
  return Promise.all(
    items.map((item) =>
      limit(async () => ({ ...item, result: await prober.probe(item.address, settings) })),
    ),
  );
}
