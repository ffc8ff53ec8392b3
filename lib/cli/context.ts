/**
 * What every CLI subcommand gets: where to write, the environment, AWS for a region (the
 * operator's own credentials, default SDK chain), the prober and a log.
 */
import type { Command } from 'commander';
import { ThemisError } from '../errors.js';
import type { Clock, LifecycleActions, LifecycleHolds, Log, Prober } from '../ports.js';
import type { RegionalPorts } from '../ports.js';

/** The AWS side of the CLI in one region: a scan's ports plus the lifecycle hooks'. */
export interface CliPorts extends RegionalPorts {
  lifecycle: LifecycleActions;
  holds: LifecycleHolds;
}

/**
 * Each AWS call the CLI makes settles within this, whatever the network does: the SDK's
 * adaptive retries take ~31 s at worst (lib/aws/clients.ts), plus the calls themselves.
 */
export const CLI_CALL_TIMEOUT_MS = 60_000;

export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** Write to stdout (the command's result). */
  out(text: string): void;
  /** Write to stderr (errors, --debug logs). */
  err(text: string): void;
  /**
   * SDK-backed ports for `region` (undefined: the SDK's own chain — AWS_REGION, the
   * profile), and the region they actually use.
   */
  connect(region: string | undefined): Promise<{ region: string; ports: CliPorts }>;
  prober: Prober;
  /** A log for this run: silent, or JSON lines on stderr with --debug. */
  log(debug: boolean): Log;
  /**
   * Ask the operator a question (on stderr) and read one line of answer (from stdin);
   * undefined when stdin ends without one. Absent: this context cannot ask (then commands
   * that need a confirmation require --yes).
   */
  prompt?(question: string): Promise<string | undefined>;
  /** Default Date.now. */
  clock?: Clock;
}

/** One subcommand: adding one to the CLI is a new file and one line in commands/index.ts. */
export interface CliCommand {
  register(program: Command, ctx: CliContext): void;
}

/** The command ran but its outcome is a failure: one line on stderr, exit status 1. */
export class CommandFailed extends ThemisError {
  override name = 'CommandFailed';
}

/** A Log writing one JSON line per call to `write`. */
export function jsonLinesLog(write: (text: string) => void): Log {
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      write(`${JSON.stringify({ level, message, ...fields })}\n`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
