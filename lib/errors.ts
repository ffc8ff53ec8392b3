import {
  NETWORK_ERROR_CODES,
  THROTTLING_ERROR_NAMES,
  TRANSIENT_ERROR_NAMES,
  TRANSIENT_HTTP_STATUSES,
} from './aws/facts.js';

/**
 * The error family. Handlers are the only place that maps these to retry behaviour:
 * ConfigError and InvalidEventError are never retried (retrying cannot fix them);
 * UpstreamError is retried (throw, or report the SQS record as a batch item failure).
 */
export class ThemisError extends Error {
  override name = 'ThemisError';
}

/** A configuration value (event field, environment variable, tag) is invalid. */
export class ConfigError extends ThemisError {
  override name = 'ConfigError';
  constructor(
    /** The field, variable or tag that holds the bad value, e.g. `metricsPort` or `THEMIS_UNKNOWN_LIMIT`. */
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** An event or message that themis cannot read. */
export class InvalidEventError extends ThemisError {
  override name = 'InvalidEventError';
  constructor(
    detail: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${detail}` : detail);
  }
}

/** An AWS call (or other dependency) failed; the operation may succeed if retried. */
export class UpstreamError extends ThemisError {
  override name = 'UpstreamError';
  constructor(
    /** What we were doing, e.g. `SetInstanceProtection Electric-Ziggurat`. */
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(`${operation} failed: ${describeCause(options.cause)}`, options);
  }
}

/** A probe was asked to reach an address the loopback-only guard forbids. */
export class AddressNotAllowedError extends ThemisError {
  override name = 'AddressNotAllowedError';
  constructor(readonly address: string) {
    super(`refusing to probe ${address}: only 127.0.0.0/8 is allowed (THEMIS_LOOPBACK_ONLY)`);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}

/** The name an AWS SDK v3 error (or a simulator error shaped like one) carries. */
export function awsErrorName(err: unknown): string | undefined {
  if (err instanceof UpstreamError) return awsErrorName(err.cause);
  if (err && typeof err === 'object' && 'name' in err && typeof err.name === 'string') {
    return err.name;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof UpstreamError) return errorMessage(err.cause);
  return err instanceof Error ? err.message : String(err);
}

/**
 * Auto Scaling answers Complete/RecordHeartbeat for an action that has already ended
 * (completed by someone else, or timed out) with a ValidationError whose message starts
 * "No active Lifecycle Action found". For themis that means: already done.
 */
export function isNoActiveLifecycleAction(err: unknown): boolean {
  return (
    awsErrorName(err) === 'ValidationError' && /no active lifecycle action/i.test(errorMessage(err))
  );
}

/** Auto Scaling rejects a request about an instance (not InService, not in the group…). */
export function isValidationError(err: unknown): boolean {
  return awsErrorName(err) === 'ValidationError';
}

/**
 * A failure that may pass if the call is made again later: AWS throttling, the service's own
 * fault (5xx, `$fault: 'server'`, an SDK `$retryable` trait), a timed-out or aborted attempt,
 * a broken connection. Anything else — access denied, a cluster that does not exist, a
 * parameter AWS refuses, an error without an AWS shape — fails the same way every time.
 */
export function isTransientError(err: unknown, depth = 0): boolean {
  if (err instanceof UpstreamError) return isTransientError(err.cause, depth + 1);
  if (!err || typeof err !== 'object') return false;
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    cause?: unknown;
    $fault?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: unknown; clockSkewCorrected?: unknown };
  };
  if (e.$retryable || e.$fault === 'server') return true;
  // A request signed with a clock that was off: the SDK corrects its skew and asks again.
  if (e.$metadata?.clockSkewCorrected) return true;
  if (
    e.name === 'InvalidSignatureException' &&
    typeof e.message === 'string' &&
    e.message.includes('Signature expired')
  )
    return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && TRANSIENT_HTTP_STATUSES.includes(status)) return true;
  if (typeof e.name === 'string') {
    if (THROTTLING_ERROR_NAMES.includes(e.name) || TRANSIENT_ERROR_NAMES.includes(e.name))
      return true;
    if (e.name === 'AbortError') return true;
  }
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.includes(e.code)) return true;
  // A wrapped failure (the SDK's and node's errors carry their own in `cause`), a few deep.
  return depth < 5 && e.cause !== undefined && isTransientError(e.cause, depth + 1);
}
