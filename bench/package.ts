/**
 * Row 5: each packaged function — `serverless package --stage ci` run once, offline, in a
 * temp copy of the project (test/packaging/package-stack.ts, the packaging tests' own
 * way) — its zip size, and its cold import time: the zip unzipped as Lambda's /var/task,
 * the handler module imported by a fresh plain `node` with the function's environment from
 * the template (NODE_OPTIONS included), several times, median. Baseline: the same fresh
 * process importing an empty ES module.
 */
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { functionEnv } from '../test/packaging/bundle-checks.js';
import { packageStack } from '../test/packaging/package-stack.js';
import { handlerModule, unzipArtefact } from '../test/packaging/run-bundle.js';
import { onInterrupt, startChild } from './children.js';
import { median, type Row } from './report.js';

/** Lambda's limit for a zip uploaded directly (a limit to compare with, not a measurement). */
const LAMBDA_ZIP_LIMIT_MB = 50;
/** Our goal for a cold import: a small share of the 10 s Lambda gives the init phase. */
const GOAL_IMPORT_MS = 500;

const FUNCTIONS = [
  { name: 'protect', handler: 'functions/protect.handler', logicalId: 'ProtectLambdaFunction' },
  { name: 'gate', handler: 'functions/gate.handler', logicalId: 'GateLambdaFunction' },
];

/** Stand-ins for the stack's own resources the environment refers to. */
const REFS = {
  RecheckQueue: 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-ci-recheck',
  OutcomeTopic: 'arn:aws:sns:us-east-1:123456789012:themis-ci-outcomes',
};

// Stands in for the runtime's bootstrap: time the import alone, then report and leave.
const IMPORTER = `
import { pathToFileURL } from 'node:url';
const started = performance.now();
await import(pathToFileURL(process.argv[1]).href);
const importMs = performance.now() - started;
// VmHWM: ru_maxrss would include the RSS of the parent this process was forked from.
const { readFileSync } = await import('node:fs');
const hwm = /^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
const maxRssMB = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
process.stdout.write(JSON.stringify({ importMs, sinceStartMs: performance.now(), maxRssMB }) + '\\n');
process.exit(0);
`;

interface ImportRun {
  importMs: number;
  /** From process start to the end of the import (Node's own start-up included). */
  sinceStartMs: number;
  maxRssMB: number;
}

async function importOnce(
  file: string,
  cwd: string,
  env: Record<string, string>,
): Promise<ImportRun> {
  const { done } = startChild(process.execPath, ['--input-type=module', '-e', IMPORTER, file], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const finished = await done;
  if (finished.code !== 0) throw new Error(`importing ${file} failed: ${finished.stderr.trim()}`);
  return JSON.parse(finished.stdout.trim().split('\n').pop()!) as ImportRun;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

export async function benchPackage(o: {
  runs: number;
  workDir: string;
  log: (line: string) => void;
}): Promise<Row[]> {
  o.log('serverless package --stage ci (offline, in a temp copy)');
  const stack = await packageStack({ stage: 'ci', params: { tagDiscovery: 'true' } });
  const taskDirs: string[] = [];
  const removeAll = () =>
    Promise.all([...taskDirs.map((d) => rm(d, { recursive: true, force: true })), stack.cleanup()]);
  const forget = onInterrupt(removeAll);
  try {
    const empty = join(o.workDir, 'empty.mjs');
    await writeFile(empty, 'export {};\n');
    const rows: Row[] = [];
    const section = 'Packaged functions (serverless package --stage ci)';
    for (const fn of FUNCTIONS) {
      const zip = stack.zips[fn.name];
      if (!zip) throw new Error(`serverless package made no zip for ${fn.name}`);
      const zipBytes = (await stat(zip)).size;
      const taskDir = await unzipArtefact(zip);
      taskDirs.push(taskDir);
      const { file } = handlerModule(taskDir, fn.handler);
      const env: Record<string, string> = {
        ...functionEnv(stack.template, fn.logicalId, REFS),
        AWS_REGION: 'us-east-1',
        AWS_LAMBDA_FUNCTION_NAME: `themis-ci-${fn.name}`,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        LAMBDA_TASK_ROOT: taskDir,
        // No credentials are read at import; these keep the SDK from looking for any.
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      // Interleaved, so a burst of load on the machine hits both sides alike.
      const imports: ImportRun[] = [];
      const baselines: ImportRun[] = [];
      for (let i = 0; i < o.runs; i++) {
        imports.push(await importOnce(file, taskDir, env));
        baselines.push(
          await importOnce(
            empty,
            o.workDir,
            env.NODE_OPTIONS ? { NODE_OPTIONS: env.NODE_OPTIONS } : {},
          ),
        );
      }
      const importMs = median(imports.map((r) => r.importMs));
      const baseMs = median(baselines.map((r) => r.importMs));
      o.log(`${fn.name}: zip ${(zipBytes / 1024).toFixed(0)} KB, import ${importMs.toFixed(0)} ms`);
      rows.push({
        section,
        name: `${fn.name}: zip size`,
        figure: { value: zipBytes / 1024, unit: 'KB' },
        baseline: { value: LAMBDA_ZIP_LIMIT_MB * 1024, unit: 'KB', label: 'Lambda zip limit' },
        ratio: {
          value: (zipBytes / (LAMBDA_ZIP_LIMIT_MB * 1024 * 1024)) * 100,
          label: '% of limit',
        },
        goal: {
          text: `≤ ${LAMBDA_ZIP_LIMIT_MB} MB`,
          pass: zipBytes <= LAMBDA_ZIP_LIMIT_MB * 2 ** 20,
        },
        note: `unzipped ${((await dirBytes(taskDir)) / 2 ** 20).toFixed(2)} MB (bundle and source map); the baseline is Lambda's limit, not a measurement.`,
      });
      rows.push({
        section,
        name: `${fn.name}: cold import`,
        figure: { value: importMs, unit: 'ms' },
        baseline: { value: baseMs, unit: 'ms', label: 'empty ES module' },
        ratio: { value: importMs / baseMs, label: '× empty' },
        goal: { text: `≤ ${GOAL_IMPORT_MS} ms`, pass: importMs <= GOAL_IMPORT_MS },
        note: `median of ${o.runs} fresh processes with the function's environment (NODE_OPTIONS ${JSON.stringify(env.NODE_OPTIONS ?? '')}): ${imports.map((r) => Math.round(r.importMs)).join(', ')} ms; process start to handler ready ${Math.round(median(imports.map((r) => r.sinceStartMs)))} ms (empty module ${Math.round(median(baselines.map((r) => r.sinceStartMs)))} ms); RSS after import ${median(imports.map((r) => r.maxRssMB)).toFixed(1)} MB (empty ${median(baselines.map((r) => r.maxRssMB)).toFixed(1)} MB).`,
      });
    }
    return rows;
  } finally {
    await removeAll();
    forget();
  }
}
