/**
 * SSM's AWS-RunRemoteScript with `sourceType` S3, as the recipe uses it (docs/s3-script.md):
 * a small S3 (objects by their https URL), and the run of the document on an instance —
 * SSM refusing parameters the document does not declare or a source type it does not
 * know, the agent downloading the script named by `sourceInfo`'s `path` a moment after the
 * command arrives (a missing object fails the command there, as the agent's 404 does),
 * running `commandLine` for `runSeconds`, and what the recipe's script does: copy the
 * instance's log to the logs bucket. Each step is a line of the timeline (journal kind
 * 'ssm'), so a story can show the script ran before the gate's CompleteLifecycleAction.
 */
import { SimAwsError } from './aws-error.js';
import type { Fleet } from './fleet.js';
import type { Journal } from './journal.js';
import type { Scheduler } from './scheduler.js';
import type { DocumentRunner, SimCommand } from './services.js';

export const RUN_REMOTE_SCRIPT = 'AWS-RunRemoteScript';
/** The document's parameters (schema 2.2, as docs/s3-script.md lists them). */
const PARAMETERS = new Set([
  'sourceType',
  'sourceInfo',
  'commandLine',
  'workingDirectory',
  'executionTimeout',
]);
const SOURCE_TYPES = new Set(['S3', 'GitHub']);

export class SimS3 {
  private readonly objects = new Map<string, { body: string; at: number }>();

  constructor(private readonly now: () => number) {}

  put(url: string, body: string): void {
    this.objects.set(url, { body, at: this.now() });
  }

  delete(url: string): void {
    this.objects.delete(url);
  }

  get(url: string): { body: string; at: number } | undefined {
    return this.objects.get(url);
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }
}

/** A script's run on an instance, as the timeline and a story's check read it. */
export interface ScriptRun {
  commandId: string;
  instanceId: string;
  path: string;
  /** When the script finished (exit 0), or the download failed. */
  at: number;
  ok: boolean;
  /** Where it copied the instance's log (ok runs). */
  logUrl?: string;
}

export interface RemoteScriptOptions {
  s3: SimS3;
  scheduler: Scheduler;
  journal: Journal;
  fleet: Fleet;
  /** From SendCommand to the script on disk (ms). */
  downloadMs?: number;
  /** The script's own run (ms). */
  runMs?: number;
  /** Where the recipe's script copies the log: `${logsPrefix}${instanceId}-messages.txt`. */
  logsPrefix: string;
}

/** The runner for SimCommands (`runners: { [RUN_REMOTE_SCRIPT]: … }`) and its record of runs. */
export function remoteScriptRunner(o: RemoteScriptOptions): {
  runner: DocumentRunner;
  runs: ScriptRun[];
} {
  const runs: ScriptRun[] = [];
  const downloadMs = o.downloadMs ?? 2_000;
  const runMs = o.runMs ?? 15_000;
  const line = (c: SimCommand, text: string) =>
    o.journal.add('ssm', `${c.instanceId}: ${text}`, {
      instanceId: c.instanceId,
      group: o.fleet.instance(c.instanceId)?.group ?? '',
      data: { commandId: c.commandId },
    });

  const runner: DocumentRunner = (c) => {
    for (const key of Object.keys(c.parameters)) {
      if (!PARAMETERS.has(key)) {
        throw new SimAwsError(
          'InvalidParameters',
          `Parameter "${key}" is not defined in ${RUN_REMOTE_SCRIPT}.`,
        );
      }
    }
    const sourceType = c.parameters.sourceType?.[0];
    if (!sourceType || !SOURCE_TYPES.has(sourceType)) {
      throw new SimAwsError(
        'InvalidParameters',
        `Parameter "sourceType" must be one of [GitHub, S3], not ${sourceType ?? 'missing'}.`,
      );
    }
    const commandLine = c.parameters.commandLine?.[0];
    if (!commandLine) {
      throw new SimAwsError('InvalidParameters', 'Parameter "commandLine" is required.');
    }
    let path: string | undefined;
    try {
      const info = JSON.parse(c.parameters.sourceInfo?.[0] ?? '') as { path?: unknown };
      path = typeof info.path === 'string' ? info.path : undefined;
    } catch {
      path = undefined;
    }
    const fail = (at: number, detail: string) => {
      c.finishAt = at;
      c.fails = true;
      c.failDetail = detail;
      o.scheduler.at(at, `ssm ${c.commandId}`, () => {
        runs.push({
          commandId: c.commandId,
          instanceId: c.instanceId,
          path: path ?? '',
          at,
          ok: false,
        });
        line(c, `${RUN_REMOTE_SCRIPT} failed: ${detail}`);
      });
    };
    const downloaded = c.sentAt + downloadMs;
    if (sourceType !== 'S3' || !path || !/^https:\/\//.test(path)) {
      fail(downloaded, `sourceInfo needs an https "path" of the S3 object, got ${path ?? 'none'}`);
      return;
    }
    // The object is read as the command arrives; the download takes `downloadMs`.
    if (!o.s3.get(path)) {
      fail(downloaded, `aws:downloadContent could not download ${path} (404 Not Found)`);
      return;
    }
    o.scheduler.at(downloaded, `ssm download ${c.commandId}`, () => {
      if (c.cancelledAt !== undefined) return;
      line(c, `${RUN_REMOTE_SCRIPT} downloaded ${path}; running ${commandLine}`);
    });
    c.finishAt = downloaded + runMs;
    const logUrl = `${o.logsPrefix}${c.instanceId}-messages.txt`;
    o.scheduler.at(c.finishAt, `ssm run ${c.commandId}`, () => {
      const inst = o.fleet.instance(c.instanceId);
      if (c.cancelledAt !== undefined || !inst?.answering) return;
      o.s3.put(logUrl, `/var/log/messages of ${c.instanceId}`);
      runs.push({
        commandId: c.commandId,
        instanceId: c.instanceId,
        path,
        at: c.finishAt,
        ok: true,
        logUrl,
      });
      line(c, `${commandLine} exited 0: copied /var/log/messages to ${logUrl}`);
    });
  };
  return { runner, runs };
}
