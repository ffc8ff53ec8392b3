/**
 * Rows 1 and 2: a scan of 1,000 loopback instances, and its peak RSS.
 *
 * The fleet (bench/fleet-servers.ts: 10 % accept and never answer, 5 % refuse, the rest
 * answer BUSY or IDLE at once) runs in one process; each scan runs in a fresh process of its
 * own — bench/scan-worker.ts, bundled as serverless.yml bundles the functions, run by plain
 * `node` — so its wall time and peak RSS are its own.
 *
 * - concurrent: `scanTarget` (the real scan: list, address, probeMany, plan, apply) over
 *   in-memory ports that count calls, at the concurrencies that matter: the deployed
 *   param (serverless.yml), the engine's default (lib/probe.ts) and the ceiling
 *   THEMIS_PROBE_CONCURRENCY accepts (lib/protect/config.ts).
 * - sequential baseline: one probe at a time, same prober, same timeout (themis-lambda).
 * - CPU baseline: the same scan with a bare node:http prober instead of got.
 * - peak RSS (VmHWM), against the same child importing the same code and doing nothing:
 *   the engine alone with this machine's default heap and with the heap Node sizes for the
 *   deployed memorySize (plus serverless.yml's NODE_OPTIONS); and bench/scan-worker-protect.ts,
 *   which loads functions/protect.ts first as Lambda does, so its baseline is the cold start.
 */
import { join } from 'node:path';
import { DEFAULT_CONCURRENCY } from '../lib/probe.js';
import { MAX_PROBE_CONCURRENCY } from '../lib/protect/config.js';
import { PROJECT_ROOT, bundleEntry, readServerlessYml } from './bundle.js';
import { startChild, stopChild } from './children.js';
import type { ProbeStatus } from '../lib/ports.js';
import { median, type Row } from './report.js';
import type { ScanJob, ScanOutcome } from './scan-worker.js';
import {
  GOT_ALONE as PROBE_GOT_ALONE,
  NODE_TRANSPORT as PROBE_NODE_TRANSPORT,
  REFERENCE as PROBE_REFERENCE,
  SHIPPED as PROBE_SHIPPED,
  type ProbeCpu,
} from './probe-cpu.js';

export const FLEET_SIZE = 1000;
/** The issue's goals for this row. */
export const GOAL_TIMEOUTS = 1.5;
export const GOAL_SPEEDUP = 50;
export const GOAL_RSS_MB = 100;
/** Issue 10's 'lean probes': got's CPU per probe against a bare node:http GET. */
export const GOAL_PROBE_CPU = 1.25;
/** A fleet of 1,000 servers is up in a few seconds; a minute means something is wrong. */
const FLEET_START_TIMEOUT_MS = 60_000;

export interface ScanBenchOptions {
  timeoutMs: number;
  /** Runs of each concurrent scan (the median is reported). */
  repeats: number;
  /** Where the bundled worker goes. */
  workDir: string;
  log: (line: string) => void;
}

export interface Fleet {
  port: number;
  addresses: string[];
  /** Each address and what it does (bench/fleet-servers.ts roles). */
  members: Array<{ address: string; role: string }>;
  expected: Record<ProbeStatus, number>;
  /** Members that accept and never answer: each costs the sequential scan a whole timeout. */
  hangs: number;
  stop(): Promise<void>;
}

/** A fleet of `size` at 127.0.1.1…, or at the given (loopback) addresses. */
export async function startFleet(size: number | readonly string[]): Promise<Fleet> {
  const { child, done } = startChild(
    process.execPath,
    [
      '--import',
      'tsx',
      join(PROJECT_ROOT, 'bench', 'fleet-servers.ts'),
      typeof size === 'number' ? String(size) : '-',
    ],
    { cwd: PROJECT_ROOT },
  );
  if (typeof size !== 'number') child.stdin!.end(JSON.stringify(size));
  const stop = () => stopChild(child);
  try {
    const ready = await new Promise<{ port: number; fleet: { address: string; role: string }[] }>(
      (resolve, reject) => {
        let buffered = '';
        const timer = setTimeout(
          () => reject(new Error('the fleet did not start within a minute')),
          FLEET_START_TIMEOUT_MS,
        );
        child.stdout!.on('data', (d: Buffer) => {
          buffered += d.toString('utf8');
          const nl = buffered.indexOf('\n');
          if (nl < 0) return;
          clearTimeout(timer);
          resolve(JSON.parse(buffered.slice(0, nl)));
        });
        void done.then((f) => {
          clearTimeout(timer);
          reject(new Error(`the fleet exited (${f.code ?? f.signal}): ${f.stderr.trim()}`));
        }, reject);
      },
    );
    const expected = { busy: 0, idle: 0, unknown: 0 };
    for (const m of ready.fleet) {
      expected[m.role === 'busy' ? 'busy' : m.role === 'idle' ? 'idle' : 'unknown']++;
    }
    return {
      port: ready.port,
      addresses: ready.fleet.map((m) => m.address),
      members: ready.fleet,
      expected,
      hangs: ready.fleet.filter((m) => m.role === 'hang').length,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function runWorker(
  bundle: string,
  job: ScanJob,
  nodeOptions: string[] = [],
): Promise<ScanOutcome> {
  const { child, done } = startChild(process.execPath, [...nodeOptions, bundle], {
    cwd: PROJECT_ROOT,
    // What a Lambda would have: no tsx loader, no NODE_OPTIONS of ours.
    // AWS_REGION: functions/protect.ts reads it at cold start (no AWS call is made).
    env: { PATH: process.env.PATH, THEMIS_LOOPBACK_ONLY: '1', AWS_REGION: 'us-east-1' },
  });
  child.stdin!.end(JSON.stringify(job));
  const finished = await done;
  if (finished.code !== 0) {
    throw new Error(`scan worker (${job.mode}) failed: ${finished.stderr.trim()}`);
  }
  return JSON.parse(finished.stdout.trim().split('\n').pop()!) as ScanOutcome;
}

/** bench/probe-cpu.ts in a child of its own, so the rest of the bench's CPU is not in it. */
async function runProbeCpu(): Promise<ProbeCpu> {
  const { done } = startChild(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'bench', 'probe-cpu.ts'), '2000', '9', '--json'],
    { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH } },
  );
  const finished = await done;
  if (finished.code !== 0) throw new Error(`bench/probe-cpu.ts failed: ${finished.stderr.trim()}`);
  return JSON.parse(finished.stdout.trim().split('\n').pop()!) as ProbeCpu;
}

/** What serverless.yml deploys that matters here. */
interface Deployed {
  probeConcurrency?: number;
  memorySize: number;
  nodeOptions: string[];
}

async function deployed(): Promise<Deployed> {
  const doc = await readServerlessYml<{
    params?: { default?: { probeConcurrency?: string } };
    provider?: { memorySize?: number; environment?: { NODE_OPTIONS?: string } };
    functions?: { protect?: { memorySize?: number; environment?: { NODE_OPTIONS?: string } } };
  }>();
  const concurrency = Number(doc.params?.default?.probeConcurrency);
  const nodeOptions =
    doc.functions?.protect?.environment?.NODE_OPTIONS ?? doc.provider?.environment?.NODE_OPTIONS;
  return {
    ...(Number.isInteger(concurrency) && concurrency > 0 ? { probeConcurrency: concurrency } : {}),
    memorySize: doc.functions?.protect?.memorySize ?? doc.provider?.memorySize ?? 1024,
    nodeOptions: nodeOptions?.split(/\s+/).filter(Boolean) ?? [],
  };
}

/**
 * The V8 heap limits Node 20 picks by itself under a memory limit of `memoryMB` (checked on
 * this machine by running node in a memory cgroup of 128–2,048 MB: heap_size_limit 259 MB up
 * to 512 MB, then memory/2 plus three semi-spaces of memory/256). On a 24 GB machine it
 * picks a 16 MB semi-space instead, which is most of the difference in peak RSS.
 */
export function lambdaHeapFlags(memoryMB: number): string[] {
  const oldSpace = Math.max(256, Math.floor(memoryMB / 2));
  const semiSpace = memoryMB <= 512 ? 1 : Math.floor(memoryMB / 256);
  return [`--max-old-space-size=${oldSpace}`, `--max-semi-space-size=${semiSpace}`];
}

/** Lambda gives a function one vCPU at 1,769 MB, and a proportional share below. */
export const LAMBDA_MB_PER_VCPU = 1769;

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  return ['busy', 'idle', 'unknown'].every((k) => a[k] === b[k]);
}

const ms = (runs: readonly ScanOutcome[]) => runs.map((r) => Math.round(r.wallMs)).join(', ');
const mb = (runs: readonly ScanOutcome[]) => runs.map((r) => r.maxRssMB.toFixed(1)).join(', ');

export async function benchScan(o: ScanBenchOptions): Promise<Row[]> {
  const deploy = await deployed();
  const engine = await bundleEntry('bench/scan-worker.ts', o.workDir);
  const withFunction = await bundleEntry('bench/scan-worker-protect.ts', o.workDir);
  const fleet = await startFleet(FLEET_SIZE);
  try {
    const job = (
      mode: ScanJob['mode'],
      concurrency = 1,
      client: ScanJob['client'] = 'got',
    ): ScanJob => ({
      mode,
      port: fleet.port,
      timeoutMs: o.timeoutMs,
      concurrency,
      client,
      addresses: fleet.addresses,
    });
    const expectation = `${fleet.expected.busy} busy, ${fleet.expected.idle} idle, ${fleet.expected.unknown} unknown`;
    o.log(`fleet of ${FLEET_SIZE} on port ${fleet.port} (${expectation})`);
    const repeat = async (
      what: string,
      n: number,
      j: ScanJob,
      options: { bundle?: string; flags?: string[] } = {},
    ): Promise<ScanOutcome[]> => {
      const runs: ScanOutcome[] = [];
      for (let i = 0; i < n; i++) {
        runs.push(await runWorker(options.bundle ?? engine, j, options.flags));
      }
      o.log(`${what}: ${j.mode === 'idle' ? '' : `${ms(runs)} ms, `}${mb(runs)} MB`);
      return runs;
    };

    const levels = [
      ...(deploy.probeConcurrency !== undefined &&
      deploy.probeConcurrency !== DEFAULT_CONCURRENCY &&
      deploy.probeConcurrency !== MAX_PROBE_CONCURRENCY
        ? [{ value: deploy.probeConcurrency, label: 'serverless.yml probeConcurrency' }]
        : []),
      { value: DEFAULT_CONCURRENCY, label: 'engine default' },
      { value: MAX_PROBE_CONCURRENCY, label: 'highest allowed' },
    ];
    const idle = await repeat('engine, import only', o.repeats, job('idle'));
    const scans: Array<{ c: number; label: string; runs: ScanOutcome[] }> = [];
    for (const level of levels) {
      // Below the default, hung probes make the wall time slot arithmetic: one run will do.
      const n = level.value < DEFAULT_CONCURRENCY ? 1 : o.repeats;
      const runs = await repeat(`scan, concurrency ${level.value}`, n, job('scan', level.value));
      scans.push({ c: level.value, label: level.label, runs });
    }
    const reference = await repeat(
      `node:http reference, concurrency ${DEFAULT_CONCURRENCY}`,
      o.repeats,
      job('scan', DEFAULT_CONCURRENCY, 'node-http'),
    );

    // As on Lambda: the deployed NODE_OPTIONS and the heap Node sizes for memorySize.
    const flags = [...deploy.nodeOptions, ...lambdaHeapFlags(deploy.memorySize)];
    const lambda = { flags };
    const engineLambdaIdle = await repeat(
      'engine, import only, Lambda heap',
      o.repeats,
      job('idle'),
      lambda,
    );
    const engineLambda = await repeat(
      `engine, concurrency ${DEFAULT_CONCURRENCY}, Lambda heap`,
      o.repeats,
      job('scan', DEFAULT_CONCURRENCY),
      lambda,
    );
    const fn = { bundle: withFunction, flags };
    const functionIdle = await repeat('protect function, import only', o.repeats, job('idle'), fn);
    const functionScans: Array<{ c: number; runs: ScanOutcome[] }> = [];
    for (const c of [DEFAULT_CONCURRENCY, MAX_PROBE_CONCURRENCY]) {
      const runs = await repeat(
        `protect function, concurrency ${c}`,
        o.repeats,
        job('scan', c),
        fn,
      );
      functionScans.push({ c, runs });
    }

    o.log(`sequential baseline next: about ${Math.round((fleet.hangs * o.timeoutMs) / 1000)} s`);
    const [sequential] = await repeat('sequential', 1, job('sequential'));
    if (!sequential) throw new Error('no sequential run');

    o.log('probe CPU: got against a bare node:http GET (bench/probe-cpu.ts)');
    const probeCpu = await runProbeCpu();

    // ---- rows -------------------------------------------------------------------------
    const rows: Row[] = [];
    const answersNote = (runs: readonly ScanOutcome[]) => {
      const wrong = runs.filter((r) => !sameCounts(r.counts, fleet.expected));
      return wrong.length
        ? ` ${wrong.length} of ${runs.length} runs answered otherwise than ${expectation}: ${wrong.map((r) => JSON.stringify(r.counts)).join(', ')}.`
        : '';
    };
    const cpuOf = (runs: readonly ScanOutcome[]) => Math.round(median(runs.map((r) => r.cpuMs)));

    const section = `Scan of ${FLEET_SIZE} loopback instances (scanTarget, in-memory ports), probe timeout ${o.timeoutMs} ms`;
    for (const { c, label, runs } of scans) {
      const wall = median(runs.map((r) => r.wallMs));
      const calls = runs[0]?.calls;
      rows.push({
        section,
        name: `concurrency ${c} (${label})`,
        figure: { value: wall, unit: 'ms' },
        baseline: { value: o.timeoutMs, unit: 'ms', label: 'probe timeout' },
        ratio: { value: wall / o.timeoutMs, label: '× timeout' },
        goal: { text: `≤ ${GOAL_TIMEOUTS} × timeout`, pass: wall <= GOAL_TIMEOUTS * o.timeoutMs },
        note: `wall ${ms(runs)} ms (median of ${runs.length}), CPU ${cpuOf(runs)} ms${calls ? `; ${calls.describeGroups} describe, ${calls.privateAddresses} address and ${calls.setInstanceProtection} protection calls to the ports` : ''}.${answersNote(runs)}`,
      });
      rows.push({
        section,
        name: `concurrency ${c} against one probe at a time`,
        figure: { value: wall, unit: 'ms' },
        baseline: { value: sequential.wallMs, unit: 'ms', label: 'sequential' },
        ratio: { value: sequential.wallMs / wall, label: '× faster' },
        goal: { text: `≥ ${GOAL_SPEEDUP}× faster`, pass: sequential.wallMs / wall >= GOAL_SPEEDUP },
      });
    }
    rows.at(-1)!.note =
      `sequential: the same prober and timeout, one probe at a time, nothing else (themis-lambda's way): ${Math.round(sequential.wallMs)} ms.${answersNote([sequential])}`;

    const gotRuns = scans.find((s) => s.c === DEFAULT_CONCURRENCY)!.runs;
    const cpu = cpuOf(gotRuns);
    const refCpu = cpuOf(reference);
    const share = deploy.memorySize / LAMBDA_MB_PER_VCPU;
    const budget = GOAL_TIMEOUTS * o.timeoutMs * share;
    rows.push({
      section,
      name: `CPU time, concurrency ${DEFAULT_CONCURRENCY}`,
      figure: { value: cpu, unit: 'ms' },
      baseline: { value: refCpu, unit: 'ms', label: 'bare node:http' },
      ratio: { value: cpu / refCpu, label: '× node:http' },
      goal: { text: `≤ ${Math.round(budget)} ms`, pass: cpu <= budget },
      note: `a ${deploy.memorySize} MB Lambda has ${share.toFixed(3)} vCPU (one at ${LAMBDA_MB_PER_VCPU} MB), so ${cpu} ms of CPU is about ${(cpu / share / 1000).toFixed(1)} s of wall there at any concurrency; the goal is the CPU that fits ${GOAL_TIMEOUTS} × timeout at that share (this machine's cores, not Graviton's). Baseline: the same scanTarget with a bare node:http prober instead of got (a reference, not shipped), wall ${ms(reference)} ms.${answersNote(reference)}`,
    });

    const perProbe = `Probe CPU, got against a bare node:http GET (bench/probe-cpu.ts: ${probeCpu.probes.toLocaleString('en-US')} loopback probes, 50 in flight, each client in turn in one process, median of ${probeCpu.rounds} rounds)`;
    const refMs = probeCpu.perThousand[PROBE_REFERENCE]!;
    for (const [name, goal] of [
      [PROBE_SHIPPED, true],
      [PROBE_NODE_TRANSPORT, false],
      [PROBE_GOT_ALONE, false],
    ] as const) {
      const ratio = probeCpu.ratio[name]!;
      rows.push({
        section: perProbe,
        name: `${name}: CPU per 1,000 probes`,
        figure: { value: probeCpu.perThousand[name]!, unit: 'ms' },
        baseline: { value: refMs, unit: 'ms', label: 'bare node:http' },
        ratio: { value: ratio, label: '× node:http' },
        ...(goal
          ? {
              goal: {
                text: `≤ ${GOAL_PROBE_CPU} × node:http`,
                pass: ratio <= GOAL_PROBE_CPU,
              },
              note: "issue 10's 'lean probes' goal, with got as the client; the two rows below say where the difference lies: the prober's own deadline around a node:http exchange, and got's stream alone with the shipped options (docs/bench.md, 'Probe CPU').",
            }
          : {}),
      });
    }

    const mem = `Peak RSS of the ${FLEET_SIZE}-instance scan (own process, bundled as deployed)`;
    const rssRow = (
      name: string,
      runs: readonly ScanOutcome[],
      base: readonly ScanOutcome[],
      baseLabel: string,
      extra = '',
    ): Row => {
      const rss = median(runs.map((r) => r.maxRssMB));
      const baseRss = median(base.map((r) => r.maxRssMB));
      return {
        section: mem,
        name,
        figure: { value: rss, unit: 'MB' },
        baseline: { value: baseRss, unit: 'MB', label: baseLabel },
        ratio: { value: rss - baseRss, label: 'MB more' },
        goal: { text: `≤ ${GOAL_RSS_MB} MB`, pass: rss <= GOAL_RSS_MB },
        note: `maxRSS ${mb(runs)} MB; ${baseLabel} ${mb(base)} MB.${extra}${answersNote(runs)}`,
      };
    };
    for (const { c, runs } of scans) {
      rows.push(rssRow(`engine, concurrency ${c}, default heap`, runs, idle, 'import only'));
    }
    const flagText = ` node ${flags.join(' ')}: serverless.yml's NODE_OPTIONS and the heap Node sizes by itself under a ${deploy.memorySize} MB memory limit.`;
    rows.push(
      rssRow(
        `engine, concurrency ${DEFAULT_CONCURRENCY}, ${deploy.memorySize} MB Lambda heap`,
        engineLambda,
        engineLambdaIdle,
        'import only',
        `${flagText} Wall ${ms(engineLambda)} ms, CPU ${cpuOf(engineLambda)} ms.`,
      ),
    );
    for (const { c, runs } of functionScans) {
      rows.push(
        rssRow(
          `protect function, concurrency ${c}, ${deploy.memorySize} MB Lambda heap`,
          runs,
          functionIdle,
          'cold start',
          `${flagText} functions/protect.ts loaded first, as Lambda loads it.`,
        ),
      );
    }
    const widest = scans.at(-1)!;
    const fds = Math.max(...widest.runs.map((r) => r.peakFds ?? Number.NaN));
    const idleFds = Math.max(...idle.map((r) => r.peakFds ?? Number.NaN));
    if (Number.isFinite(fds)) {
      rows.push({
        section: mem,
        name: `open descriptors at the peak, concurrency ${widest.c}`,
        figure: { value: fds, unit: '' },
        baseline: { value: idleFds, unit: '', label: 'import only' },
        ratio: { value: fds - idleFds, label: 'more' },
        goal: { text: '< 1024 (Lambda)', pass: fds < 1024 },
        note: 'sampled every 50 ms from /proc/self/fd; Lambda allows 1,024 per execution environment.',
      });
    }
    return rows;
  } finally {
    await fleet.stop();
  }
}
