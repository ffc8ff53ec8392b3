/**
 * Running a snippet in a Node process of its own, under tsx: a module loads once per process,
 * so what a cold start does (or which SDK it loads) is seen only in a fresh one. The child
 * gets PATH, a region, THEMIS_LOOPBACK_ONLY=1 and `env` — nothing else of ours.
 */
import { execFile } from 'node:child_process';

export interface FreshRun {
  /** The exit code (0 when it ended normally). */
  code: number;
  stdout: string;
  stderr: string;
}

export function runFresh(script: string, env: Record<string, string> = {}): Promise<FreshRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '-e', script],
      {
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'us-east-1',
          THEMIS_LOOPBACK_ONLY: '1',
          NODE_NO_WARNINGS: '1',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout: stdout.trim(), stderr });
      },
    );
  });
}

/** `runFresh`, failing with the child's stderr unless it exits 0; resolves to its stdout. */
export async function outputOfFresh(script: string, env: Record<string, string> = {}) {
  const run = await runFresh(script, env);
  if (run.code !== 0) throw new Error(`the child exited with ${run.code}\n${run.stderr}`);
  return run.stdout;
}

/**
 * A JavaScript expression, true once a module of `packagePath` (e.g. `@aws-sdk/client-ssm`)
 * is loaded: under tsx the SDKs resolve to their CommonJS builds, so they show in the
 * CommonJS module cache.
 */
export const isLoaded = (packagePath: string) =>
  `Object.keys(require('node:module')._cache).some((p) => p.includes('/${packagePath}/'))`;
