import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from './ports.js';

/**
 * Logging. One JSON line per call (Powertools), level from POWERTOOLS_LOG_LEVEL (or
 * AWS_LAMBDA_LOG_LEVEL). Fields go at the top level of the line so queries can filter on
 * `instanceId`, `group`, `decision`.
 *
 * Context travels with the logger, not with each call: a handler takes `forInvocation(log,
 * context)` once per invocation (every line then carries the Lambda request id) and a gate
 * step takes `childLog(log, { instanceId, group, hook })` (every line of that step carries
 * them). Both work for any `Log`, so fakes and the simulator get the same fields.
 */

/** The part of the Lambda context a log line carries. */
export interface LogContext {
  awsRequestId?: string;
  functionName?: string;
}

/** A Log that can make children carrying extra fields (what createLogger returns). */
export interface ContextLog extends Log {
  child(fields: Record<string, unknown>): ContextLog;
  forInvocation(context: LogContext): ContextLog;
}

/**
 * The function's service name for its logs and metrics: POWERTOOLS_SERVICE_NAME when set
 * (serverless.yml sets it per function), else `defaultServiceName`.
 */
export function serviceName(defaultServiceName: string, env = process.env): string {
  return env.POWERTOOLS_SERVICE_NAME?.trim() || defaultServiceName;
}

/** The functions' logger, named by `serviceName`. */
export function createLogger(defaultServiceName: string): ContextLog & { logger: Logger } {
  return wrapPowertools(new Logger({ serviceName: serviceName(defaultServiceName) }));
}

function wrapPowertools(logger: Logger): ContextLog & { logger: Logger } {
  return {
    logger,
    debug: (message, fields = {}) => logger.debug(message, fields),
    info: (message, fields = {}) => logger.info(message, fields),
    warn: (message, fields = {}) => logger.warn(message, fields),
    error: (message, fields = {}) => logger.error(message, fields),
    child(fields) {
      const child = logger.createChild();
      child.appendPersistentKeys(fields);
      return wrapPowertools(child);
    },
    forInvocation(context) {
      // Powertools' own Lambda fields (function_request_id, cold_start, …) on a child, so
      // the root logger never carries one invocation's request id into the next.
      const child = logger.createChild();
      child.addContext(context as Parameters<Logger['addContext']>[0]);
      return wrapPowertools(child);
    },
  };
}

function isContextLog(log: Log): log is ContextLog {
  return (
    typeof (log as Partial<ContextLog>).child === 'function' &&
    typeof (log as Partial<ContextLog>).forInvocation === 'function'
  );
}

/** A Log whose every line carries `fields` (the caller's fields win on a clash). */
export function childLog(log: Log, fields: Record<string, unknown>): Log {
  if (isContextLog(log)) return log.child(fields);
  const at =
    (level: keyof Log) =>
    (message: string, extra: Record<string, unknown> = {}) =>
      log[level](message, { ...fields, ...extra });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The Log for one invocation: every line carries the Lambda request id. */
export function forInvocation(log: Log, context: LogContext | undefined): Log {
  if (!context?.awsRequestId) return log;
  if (isContextLog(log)) return log.forInvocation(context);
  return childLog(log, { requestId: context.awsRequestId });
}

/** A Log that keeps every line, for tests and the sandbox. */
export interface RecordedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export function createRecordingLog(): Log & { lines: RecordedLine[] } {
  const lines: RecordedLine[] = [];
  const at =
    (level: RecordedLine['level']) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLog: Log = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
