import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from './ports.js';

/**
 * The functions' logger: one JSON line per call (Powertools), level from POWERTOOLS_LOG_LEVEL
 * (or AWS_LAMBDA_LOG_LEVEL). Fields go at the top level of the line so queries can filter on
 * `instanceId`, `group`, `decision`.
 */
export function createLogger(serviceName: string): Log & { logger: Logger } {
  const logger = new Logger({ serviceName });
  return {
    logger,
    debug: (message, fields = {}) => logger.debug(message, fields),
    info: (message, fields = {}) => logger.info(message, fields),
    warn: (message, fields = {}) => logger.warn(message, fields),
    error: (message, fields = {}) => logger.error(message, fields),
  };
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
