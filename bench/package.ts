/**
 * Row 5: each packaged function — `serverless package --stage ci` run once, offline, in a
 * temp copy of the project (test/packaging/package-stack.ts, the packaging tests' own
 * way) — its zip size, and its cold import time: the zip unzipped as Lambda's /var/task,
 * the handler module imported by a fresh plain `node` with the function's environment from
 * the template (NODE_OPTIONS included), several times, median, in a cgroup holding it to one
 * vCPU (bench/cgroup.ts; a 1,769 MB Lambda) so that other load on the machine weighs less.
 * Baseline: the same fresh process importing an empty ES module. Then what the import is
 * made of: the same without NODE_OPTIONS (source maps), and each heavy module the functions
 * import, bundled alone with the deployed esbuild settings and imported the same way.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { functionEnv } from '../test/packaging/bundle-checks.js';
import { packageStack } from '../test/packaging/package-stack.js';
import { handlerModule, unzipArtefact } from '../test/packaging/run-bundle.js';
import { PROJECT_ROOT, bundleEntry, readServerlessYml } from './bundle.js';
import { createCpuLimit, lambdaCpuShare, LAMBDA_MB_PER_VCPU, type CpuLimit } from './cgroup.js';
import { onInterrupt, startChild } from './children.js';
import { lambdaHeapFlags } from './scan.js';
import { BATCH, measureGateMemory } from './gate-memory.js';
import type { Invocation } from './packaged-function.js';
import { INSTANCES as SCALE_INSTANCES, INVOCATIONS, measureScaleMemory } from './scale-memory.js';
import { median, type Row } from './report.js';

/** Lambda's limit for a zip uploaded directly (a limit to compare with, not a measurement). */
const LAMBDA_ZIP_LIMIT_MB = 50;
/** The goal for a cold import at one vCPU. */
const GOAL_IMPORT_MS = 150;

/**
 * The modules a function's cold start is made of, each bundled alone (shared code such as
 * the SDK's core is counted in each one that needs it).
 */
const PARTS: Array<{ name: string; source: string }> = [
  {
    name: 'Auto Scaling client + adapter',
    source: "export * from '../../lib/aws/auto-scaling.js';",
  },
  { name: 'EC2 client + adapter', source: "export * from '../../lib/aws/ec2.js';" },
  {
    name: 'SNS + SQS clients + adapters',
    source: "export * from '../../lib/aws/sns.js';\nexport * from '../../lib/aws/sqs.js';",
  },
  { name: 'SSM client + adapter', source: "export * from '../../lib/aws/ssm.js';" },
  { name: 'Powertools Logger (lib/log.ts)', source: "export * from '../../lib/log.js';" },
  {
    name: 'Powertools Metrics',
    source: "export { Metrics } from '@aws-lambda-powertools/metrics';",
  },
  { name: 'got (lib/probe.ts)', source: "export * from '../../lib/probe.js';" },
  { name: 'zod (lib/config.ts)', source: "export * from '../../lib/config.js';" },
];

const FUNCTIONS = [
  { name: 'protect', handler: 'functions/protect.handler', logicalId: 'ProtectLambdaFunction' },
  { name: 'gate', handler: 'functions/gate.handler', logicalId: 'GateLambdaFunction' },
  { name: 'scale', handler: 'functions/scale.handler', logicalId: 'ScaleLambdaFunction' },
];

/**
 * The scale function exists only with a clusters file (deploy/ecs.cjs): one cluster, one
 * service scaled on a queue's backlog, as docs/ecs.md shows.
 */
const CLUSTERS_FILE = 'clusters.yml';
const CLUSTERS_YML = `clusters:
  jobs:
    autoscale_group: jobs-asg
    cpu_buffer: 512
    mem_buffer: 1024
    services:
      worker:
        min: 1
        max: 10
        metric: { sqs_queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs" }
        events:
          - { metric_min: 100, metric_max: null, action: 2 }
          - { metric_min: null, metric_max: 0, action: -1 }
`;

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
  cpu?: CpuLimit,
): Promise<ImportRun> {
  const argv = [process.execPath, '--input-type=module', '-e', IMPORTER, file];
  const { command, args } = cpu ? cpu.wrap(argv) : { command: argv[0]!, args: argv.slice(1) };
  const { done } = startChild(command, args, {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const finished = await done;
  if (finished.code !== 0) throw new Error(`importing ${file} failed: ${finished.stderr.trim()}`);
  return JSON.parse(finished.stdout.trim().split('\n').pop()!) as ImportRun;
}

/** A function's memorySize in serverless.yml (its own, else the provider's). */
async function deployedMemory(name: string): Promise<number> {
  const doc = await readServerlessYml<{
    provider?: { memorySize?: number };
    functions?: Record<string, { memorySize?: number } | undefined>;
  }>();
  return doc.functions?.[name]?.memorySize ?? doc.provider?.memorySize ?? 1024;
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
  const clusters = join(o.workDir, CLUSTERS_FILE);
  await writeFile(clusters, CLUSTERS_YML);
  const stack = await packageStack({
    stage: 'ci',
    params: { tagDiscovery: 'true', clustersFile: CLUSTERS_FILE },
    overlay: { [CLUSTERS_FILE]: clusters },
  });
  const { limit: cpu, why } = await createCpuLimit(`themis-bench-${process.pid}-import`, 1);
  const taskDirs: string[] = [];
  const removeAll = () =>
    Promise.all([
      ...taskDirs.map((d) => rm(d, { recursive: true, force: true })),
      stack.cleanup(),
      cpu?.remove(),
    ]);
  const forget = onInterrupt(removeAll);
  try {
    const empty = join(o.workDir, 'empty.mjs');
    await writeFile(empty, 'export {};\n');
    const rows: Row[] = [];
    const at = cpu ? `1 vCPU (${LAMBDA_MB_PER_VCPU} MB), ${cpu.where}` : `UNLIMITED CPU: ${why}`;
    const section = `Packaged functions (serverless package --stage ci); imports at ${at}`;
    let sharedEnv: Record<string, string> = {};
    const taskDirOf: Record<string, string> = {};
    for (const fn of FUNCTIONS) {
      const zip = stack.zips[fn.name];
      if (!zip) throw new Error(`serverless package made no zip for ${fn.name}`);
      const zipBytes = (await stat(zip)).size;
      const taskDir = await unzipArtefact(zip);
      taskDirs.push(taskDir);
      taskDirOf[fn.name] = taskDir;
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
      const withoutOptions = { ...env };
      delete withoutOptions.NODE_OPTIONS;
      sharedEnv = withoutOptions;

      // The same import at the CPU share of the function's deployed memory size.
      const memoryMB = await deployedMemory(fn.name);
      const share = await createCpuLimit(
        `themis-bench-${process.pid}-${fn.name}-${memoryMB}`,
        lambdaCpuShare(memoryMB),
      );
      // Interleaved, so a burst of load on the machine hits both sides alike.
      const imports: ImportRun[] = [];
      const atMemory: ImportRun[] = [];
      const baselines: ImportRun[] = [];
      try {
        for (let i = 0; i < o.runs; i++) {
          imports.push(await importOnce(file, taskDir, env, cpu));
          if (share.limit) atMemory.push(await importOnce(file, taskDir, env, share.limit));
          baselines.push(
            await importOnce(
              empty,
              o.workDir,
              env.NODE_OPTIONS ? { NODE_OPTIONS: env.NODE_OPTIONS } : {},
              cpu,
            ),
          );
        }
      } finally {
        await share.limit?.remove();
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
      if (atMemory.length > 0) {
        const atMs = median(atMemory.map((r) => r.importMs));
        rows.push({
          section,
          name: `${fn.name}: cold import at ${memoryMB} MB (${lambdaCpuShare(memoryMB).toFixed(3)} vCPU)`,
          figure: { value: atMs, unit: 'ms' },
          baseline: { value: importMs, unit: 'ms', label: '1 vCPU' },
          ratio: { value: atMs / importMs, label: '× 1 vCPU' },
          note: `the deployed memorySize's CPU share (${share.limit!.where}): ${atMemory.map((r) => Math.round(r.importMs)).join(', ')} ms; RSS after import ${median(atMemory.map((r) => r.maxRssMB)).toFixed(1)} MB = ${((median(atMemory.map((r) => r.maxRssMB)) / memoryMB) * 100).toFixed(0)} % of ${memoryMB} MB.`,
        });
      }
    }

    // Each function's peak RSS at work, at its deployed memory size's CPU share and heap.
    const peakRows = (
      fn: string,
      memoryMB: number,
      where: string,
      work: string,
      importRssMB: number,
      invocations: Invocation[],
      extra: string,
    ) => {
      const peak = Math.max(importRssMB, ...invocations.map((v) => v.rssMB));
      const steps = invocations
        .map(
          (v) =>
            `${v.what}: ${Math.round(v.wallMs)} ms wall, ${Math.round(v.cpuMs)} ms CPU, VmHWM ${v.rssMB.toFixed(1)} MB`,
        )
        .join('; ');
      rows.push({
        section,
        name: `${fn}: peak RSS ${work} at ${memoryMB} MB (${where})`,
        figure: { value: peak, unit: 'MB' },
        baseline: { value: memoryMB, unit: 'MB', label: 'memory size' },
        ratio: { value: (peak / memoryMB) * 100, label: '% of memory' },
        goal: { text: '≤ 60 %', pass: peak <= 0.6 * memoryMB },
        note: `the packaged ${fn} in one process (heap flags ${lambdaHeapFlags(memoryMB).join(' ')}): after import ${importRssMB.toFixed(1)} MB; ${steps}; ${extra}`,
      });
      rows.push({
        section,
        name: `${fn}: peak RSS ${work} against its cold start`,
        figure: { value: peak, unit: 'MB' },
        baseline: { value: importRssMB, unit: 'MB', label: 'after import, same process' },
        ratio: { value: peak / importRssMB, label: '× cold start' },
      });
    };
    for (const fn of ['gate', 'scale'] as const) {
      const memoryMB = await deployedMemory(fn);
      const share = await createCpuLimit(
        `themis-bench-${process.pid}-${fn}-peak-${memoryMB}`,
        lambdaCpuShare(memoryMB),
      );
      const where = share.limit
        ? `${lambdaCpuShare(memoryMB).toFixed(3)} vCPU`
        : `UNLIMITED CPU: ${share.why}`;
      const limits = { memoryMB, ...(share.limit ? { cpu: share.limit } : {}), log: o.log };
      try {
        if (fn === 'gate') {
          const run = await measureGateMemory({
            taskDir: taskDirOf.gate!,
            template: stack.template,
            ...limits,
          });
          peakRows(
            'gate',
            memoryMB,
            where,
            `holding ${BATCH} instances`,
            run.importRssMB,
            run.invocations,
            `moto; ${BATCH} loopback instances answering BUSY; ${run.probes} probes answered.`,
          );
        } else {
          const run = await measureScaleMemory({
            taskDir: taskDirOf.scale!,
            template: stack.template,
            workDir: o.workDir,
            ...limits,
          });
          peakRows(
            'scale',
            memoryMB,
            where,
            `over ${INVOCATIONS} invocations`,
            run.importRssMB,
            run.invocations,
            `moto ECS: one cluster of ${SCALE_INSTANCES} container instances, a worker service on a loopback backlog metric (${run.metricReads} reads); results ${run.invocations.map((v) => JSON.stringify(v.result).slice(0, 400)).join(' ')}`,
          );
        }
      } finally {
        await share.limit?.remove();
      }
    }

    // What the imports are made of: each heavy module alone, bundled as deployed.
    const partsDir = join(PROJECT_ROOT, 'bench', `.parts-${process.pid}`);
    await mkdir(partsDir, { recursive: true });
    try {
      for (const [i, part] of PARTS.entries()) {
        const entry = join(partsDir, `part-${i}.ts`);
        await writeFile(entry, `${part.source}\n`);
        const bundled = await bundleEntry(relative(PROJECT_ROOT, entry), o.workDir);
        const runs: ImportRun[] = [];
        for (let k = 0; k < o.runs; k++)
          runs.push(await importOnce(bundled, o.workDir, sharedEnv, cpu));
        const ms = median(runs.map((r) => r.importMs));
        const bytes = (await stat(bundled)).size;
        rows.push({
          section: `${section}: import cost of each part alone (no NODE_OPTIONS)`,
          name: part.name,
          figure: { value: ms, unit: 'ms' },
          baseline: { value: bytes / 1024, unit: 'KB', label: 'bundled' },
          ratio: { value: median(runs.map((r) => r.maxRssMB)), label: 'MB RSS' },
          note: `${runs.map((r) => Math.round(r.importMs)).join(', ')} ms`,
        });
      }
    } finally {
      await rm(partsDir, { recursive: true, force: true });
    }
    return rows;
  } finally {
    await removeAll();
    forget();
  }
}
