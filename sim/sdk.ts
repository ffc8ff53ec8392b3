/**
 * AWS at the SDK boundary, in virtual time: what happens between an adapter's
 * `client.send(command, { abortSignal })` and its answer.
 *
 * Per attempt (one HTTP request): the client-side adaptive rate limiter may make it wait
 * (once AWS has throttled this client); at AWS the request meets an outage of the service (a
 * 5xx), Auto Scaling's account-wide token bucket (empty: `Throttling: Rate exceeded`),
 * occasional `ResourceContention` on Auto Scaling writes, or it takes effect in the model;
 * the answer arrives one latency later. A retryable failure
 * (throttling, 5xx, contention) is retried as the SDK's standard/adaptive strategy does: up
 * to MAX_ATTEMPTS attempts (lib/aws/clients.ts), full-jitter exponential backoff (100 ms
 * base, 500 ms for throttling, 20 s cap), while the client's retry quota lasts (500
 * tokens, 5 per retry). An abort of `abortSignal` rejects at once with an AbortError and
 * stops the retries; the request may still have taken effect at AWS.
 *
 * Each Lambda container has its own clients (so its own limiter and quota), and when the
 * container dies — a timeout, an injected crash — nothing it awaits resumes: answers and
 * timers addressed to it are dropped.
 *
 * The Auto Scaling budget (documented in docs/sandbox.md): AWS does not publish Auto
 * Scaling's rate limits; the model gives the account a bucket of AUTO_SCALING_BUCKET.burst
 * requests refilled at AUTO_SCALING_BUCKET.perSecond, shared by protect scans, heartbeats
 * and completions (and other tools, which a throttling storm stands for). themis's own share
 * is THEMIS_AUTO_SCALING_BUDGET; the property tests check it never takes more.
 */
import { MAX_ATTEMPTS } from '../lib/aws/clients.js';
import type { ApiCalls, ApiName } from './api-calls.js';
import { SimAwsError } from './aws-error.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';

export type Service = 'autoscaling' | 'ec2' | 'sqs' | 'sns' | 'ssm' | 'ecs';

/** The account's Auto Scaling request bucket in the model. */
export const AUTO_SCALING_BUCKET = Object.freeze({ burst: 40, perSecond: 20 });
/**
 * What themis may take of it: half the sustained rate over any minute, and never more than
 * the burst in one second — the other half is left to every other tool in the account.
 */
export const THEMIS_AUTO_SCALING_BUDGET = Object.freeze({
  perSecondPeak: AUTO_SCALING_BUCKET.burst,
  perMinute: (AUTO_SCALING_BUCKET.perSecond / 2) * 60,
});

/** Latency of one request, min–max ms (skewed towards min: most answers are quick). */
export const LATENCY_MS: Readonly<Record<Service, readonly [number, number]>> = Object.freeze({
  autoscaling: [40, 1500],
  ec2: [50, 1500],
  sqs: [10, 400],
  sns: [20, 800],
  ssm: [30, 1000],
  ecs: [30, 1200],
});

/** The error a service answers during an outage (HTTP 500/503). */
const OUTAGE_ERROR: Record<Service, string> = {
  autoscaling: 'InternalFailure',
  ec2: 'InternalError',
  sqs: 'InternalError',
  sns: 'InternalErrorException',
  ssm: 'InternalServerError',
  ecs: 'ServerException',
};

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
]);

/** The SDK's retry constants (standard/adaptive mode). */
const BASE_DELAY_MS = 100;
const THROTTLING_BASE_DELAY_MS = 500;
const MAX_BACKOFF_MS = 20_000;
const INITIAL_RETRY_TOKENS = 500;
const RETRY_COST = 5;
const NO_RETRY_INCREMENT = 1;

export interface Outage {
  service: Service;
  fromMs: number;
  toMs: number;
}

export interface Storm {
  fromMs: number;
  toMs: number;
}

export interface AccountOptions {
  outages?: readonly Outage[];
  /** Throttling storms: other tools take the whole Auto Scaling bucket meanwhile. */
  storms?: readonly Storm[];
  /** Probability that an Auto Scaling write attempt meets ResourceContention. */
  contention?: number;
  latencyMs?: Partial<Record<Service, readonly [number, number]>>;
  bucket?: { burst: number; perSecond: number };
}

/** The AWS account: service state shared by every container, and the record of requests. */
export class AwsAccount {
  readonly outages: Outage[];
  readonly storms: Storm[];
  /** Virtual times of every Auto Scaling request that reached AWS (throttled ones too). */
  readonly autoScalingRequests: number[] = [];
  /** The API of each of autoScalingRequests, and whether it was throttled (same index). */
  readonly autoScalingRequestApis: { api: ApiName; throttled: boolean }[] = [];
  private tokens: number;
  private refilledAt: number;
  private readonly bucket: { burst: number; perSecond: number };
  private readonly contention: number;
  private readonly latency: Record<Service, readonly [number, number]>;

  constructor(
    readonly scheduler: Scheduler,
    readonly random: Random,
    readonly calls: ApiCalls,
    options: AccountOptions = {},
  ) {
    this.outages = [...(options.outages ?? [])];
    this.storms = [...(options.storms ?? [])];
    this.bucket = options.bucket ?? AUTO_SCALING_BUCKET;
    this.tokens = this.bucket.burst;
    this.refilledAt = scheduler.now();
    this.contention = options.contention ?? 0;
    this.latency = { ...LATENCY_MS, ...options.latencyMs };
  }

  latencyMs(service: Service): number {
    const [min, max] = this.latency[service];
    const u = this.random.next();
    return Math.round(min + u * u * u * (max - min));
  }

  outageAt(service: Service, atMs: number): Outage | undefined {
    return this.outages.find((o) => o.service === service && o.fromMs <= atMs && atMs < o.toMs);
  }

  stormAt(atMs: number): Storm | undefined {
    return this.storms.find((s) => s.fromMs <= atMs && atMs < s.toMs);
  }

  /** One Auto Scaling request arrives: a token, or throttled. */
  takeAutoScalingToken(atMs: number, api: ApiName): boolean {
    const granted = this.grantAutoScalingToken(atMs);
    this.autoScalingRequests.push(atMs);
    this.autoScalingRequestApis.push({ api, throttled: !granted });
    return granted;
  }

  private grantAutoScalingToken(atMs: number): boolean {
    const elapsed = Math.max(0, atMs - this.refilledAt) / 1000;
    this.refilledAt = atMs;
    // During a storm other tools take every token as it comes.
    if (this.stormAt(atMs)) {
      this.tokens = 0;
      return false;
    }
    this.tokens = Math.min(this.bucket.burst, this.tokens + elapsed * this.bucket.perSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  contended(): boolean {
    return this.random.chance(this.contention);
  }
}

/** The Lambda container a client belongs to (sim/lambda.ts). */
export interface Owner {
  alive(): boolean;
  /**
   * An external operation of this container took effect; true if the container dies right
   * now (an injected crash), in which case its answer is never delivered.
   */
  tookEffect(what: string): boolean;
}

/**
 * One client's retry state: the retry quota and the adaptive rate limiter (a simplified
 * version of the SDK's CUBIC limiter: disabled until the first throttle, then a token bucket
 * whose rate drops to 70 % of the measured send rate on each throttle and grows back along
 * the CUBIC curve).
 */
export class ClientRetryState {
  quota = INITIAL_RETRY_TOKENS;
  private enabled = false;
  private fillRate = 0;
  private tokens = 0;
  private lastRefill = 0;
  private lastMaxRate = 0;
  private lastThrottle = 0;
  private measured = 0;
  private measuredAt = 0;
  private sentInSlot = 0;

  /** ms to wait before the next request may go. */
  delayMs(nowMs: number): number {
    if (!this.enabled) return 0;
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const wait = ((1 - this.tokens) / this.fillRate) * 1000;
    this.tokens = 0;
    return Math.ceil(wait);
  }

  sent(nowMs: number): void {
    const slot = Math.floor(nowMs / 500);
    if (slot !== this.measuredAt) {
      const rate = this.sentInSlot * 2;
      this.measured = this.measured * 0.2 + rate * 0.8;
      this.measuredAt = slot;
      this.sentInSlot = 0;
    }
    this.sentInSlot++;
  }

  answered(nowMs: number, throttled: boolean): void {
    if (throttled) {
      const rate = this.enabled ? Math.min(this.measured, this.fillRate) : this.measured;
      this.lastMaxRate = Math.max(rate, 0.5);
      this.lastThrottle = nowMs;
      this.enabled = true;
      this.refill(nowMs);
      this.fillRate = Math.max(0.5, this.lastMaxRate * 0.7);
      this.tokens = Math.min(this.tokens, this.fillRate);
    } else if (this.enabled) {
      const t = (nowMs - this.lastThrottle) / 1000;
      const k = Math.cbrt((this.lastMaxRate * (1 - 0.7)) / 0.4);
      const cubic = 0.4 * (t - k) ** 3 + this.lastMaxRate;
      this.refill(nowMs);
      this.fillRate = Math.max(0.5, Math.min(cubic, 2 * Math.max(this.measured, 0.5)));
    }
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.lastRefill) / 1000;
    this.lastRefill = nowMs;
    this.tokens = Math.min(Math.max(1, this.fillRate), this.tokens + elapsed * this.fillRate);
  }
}

export function abortError(signal: AbortSignal): Error {
  const err = new Error(
    `Request aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`,
  );
  err.name = 'AbortError';
  return err;
}

function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

export function isRetryable(err: unknown): boolean {
  if (!(err instanceof SimAwsError)) return false;
  return THROTTLING.has(err.name) || err.$fault === 'server';
}

export interface CallEnv {
  scheduler: Scheduler;
  account: AwsAccount;
  owner: Owner;
  retry: Record<Service, ClientRetryState>;
  /** Jitter of the SDK's backoff. */
  random: Random;
}

/**
 * Wait `ms` of virtual time for `owner` (dropped if it dies), rejecting at once when
 * `signal` aborts.
 */
function wait(env: CallEnv, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    env.scheduler.after(ms, 'sdk', () => {
      signal?.removeEventListener('abort', onAbort);
      if (env.owner.alive()) resolve();
    });
  });
}

/**
 * One SDK `send`: attempts, backoff, the limiter, abort, outages, throttling, and the
 * effect on the model (`effect`, run at the moment the request reaches AWS; it throws a
 * SimAwsError for an AWS error answer).
 */
export async function sdkCall<T>(
  env: CallEnv,
  service: Service,
  api: ApiName,
  effect: () => T,
  signal: AbortSignal | undefined,
): Promise<T> {
  const { account, scheduler } = env;
  const retry = env.retry[service];
  account.calls.call(api);
  for (let attempt = 1; ; attempt++) {
    if (service === 'autoscaling') {
      const delay = retry.delayMs(scheduler.now());
      if (delay > 0) await wait(env, delay, signal);
    }
    if (signal?.aborted) throw abortError(signal);
    const latency = account.latencyMs(service);
    retry.sent(scheduler.now());
    account.calls.attempt(api);

    // At AWS. (The request takes effect as it is sent and the answer comes back `latency`
    // later: one event per attempt keeps long histories cheap; an abort meanwhile loses the
    // answer, not the effect — as a real abort may.)
    const now = scheduler.now();
    let outcome: { ok: true; value: T } | { ok: false; error: SimAwsError };
    const outage = account.outageAt(service, now);
    if (outage) {
      outcome = {
        ok: false,
        error: new SimAwsError(
          OUTAGE_ERROR[service],
          'We encountered an internal error. Please try again.',
          'server',
        ),
      };
    } else if (service === 'autoscaling' && !account.takeAutoScalingToken(now, api)) {
      outcome = { ok: false, error: new SimAwsError('Throttling', 'Rate exceeded') };
    } else if (service === 'autoscaling' && !api.startsWith('Describe') && account.contended()) {
      outcome = {
        ok: false,
        error: new SimAwsError(
          'ResourceContention',
          'You already have a pending update to an Auto Scaling resource (for example, a group, instance, or load balancer).',
          'server',
        ),
      };
    } else {
      try {
        outcome = { ok: true, value: effect() };
      } catch (err) {
        if (!(err instanceof SimAwsError)) throw err;
        outcome = { ok: false, error: err };
      }
    }

    await wait(env, latency, signal);
    if (outcome.ok && env.owner.tookEffect(api)) return never();
    if (service === 'autoscaling') {
      retry.answered(scheduler.now(), !outcome.ok && THROTTLING.has(outcome.error.name));
    }
    if (outcome.ok) {
      retry.quota = Math.min(INITIAL_RETRY_TOKENS, retry.quota + NO_RETRY_INCREMENT);
      return outcome.value;
    }
    const error = outcome.error;
    error.$metadata.attempts = attempt;
    if (!isRetryable(error) || attempt >= MAX_ATTEMPTS || retry.quota < RETRY_COST) {
      account.calls.failure(api);
      throw error;
    }
    retry.quota -= RETRY_COST;
    const base = THROTTLING.has(error.name) ? THROTTLING_BASE_DELAY_MS : BASE_DELAY_MS;
    const backoff = Math.floor(
      env.random.next() * Math.min(MAX_BACKOFF_MS, base * 2 ** (attempt - 1)),
    );
    await wait(env, backoff, signal);
  }
}

export function freshRetryState(): Record<Service, ClientRetryState> {
  return {
    autoscaling: new ClientRetryState(),
    ec2: new ClientRetryState(),
    sqs: new ClientRetryState(),
    sns: new ClientRetryState(),
    ssm: new ClientRetryState(),
    ecs: new ClientRetryState(),
  };
}
