/**
 * Child processes of the benchmark, started directly with this Node (never through npm/npx
 * wrappers, whose grandchildren survive a kill) and stopped by pid — every one of them, on
 * success, failure, Ctrl-C or SIGTERM.
 *
 * Children that may run for long (the fleet, a scan) are spawned with an IPC channel and
 * exit by themselves when it closes (see `exitWithParent`), so even a parent killed with
 * SIGKILL leaves nothing behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
/** How long a child gets to stop after SIGTERM before SIGKILL. */
const GRACE_MS = 2_000;

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start a child and track it until it exits. stdout/stderr are collected. */
export function startChild(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
    ...options,
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Finished>((resolve, reject) => {
    child.once('error', (err) => {
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

/** Stop one child: SIGTERM, then SIGKILL if it is still there after the grace period. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), GRACE_MS);
  await closed;
  clearTimeout(timer);
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map(stopChild));
}

/** Synchronous last resort for `process.on('exit')`: no waiting is possible there. */
function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

const cleanups = new Set<() => Promise<unknown>>();

/**
 * Something to undo if the run is interrupted (a temp directory…); returns the function that
 * unregisters it, for when the normal path has done the work itself.
 */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

let installed = false;
let interrupted = false;

/** A signal arrived: failures from here on are the shutdown's, not the benchmark's. */
export function isInterrupted(): boolean {
  return interrupted;
}

/**
 * Stop every child on exit, Ctrl-C and SIGTERM, and run the onInterrupt cleanups; a signal
 * ends the run with 128 + n.
 */
export function cleanUpOnExit(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllNow);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      interrupted = true;
      process.stderr.write(`\nbench: ${signal}, stopping ${live.size} child process(es)\n`);
      void stopAllChildren()
        .then(() => Promise.allSettled([...cleanups].map((c) => c())))
        .finally(() => process.exit(code));
    });
  }
}

/** In a child started by startChild: exit as soon as the parent goes away. */
export function exitWithParent(): void {
  if (process.connected) process.once('disconnect', () => process.exit(0));
}
