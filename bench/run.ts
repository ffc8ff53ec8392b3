/**
 * `npm run bench`: themis's performance figures, each next to a baseline measured in the same
 * run. Not part of `npm test` — speed and memory claims live here, not in timed tests.
 *
 *   npm run bench                      everything, probe timeout 2000 ms (20–25 minutes on two
 *                                      shared cores: lambda ~4, scan ~7, gate ~10, package ~1.5)
 *   npm run bench -- --quick           probe timeout 1000 ms, one run per scan
 *   npm run bench -- --only scan,gate  some sections: lambda, scan, calls, gate, package
 *
 * Prints a table, then notes; writes every figure as JSON to bench/results.json (not
 * committed). Loopback only. Every child process and server is stopped at the end, on
 * failure and on Ctrl-C.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PROJECT_ROOT } from './bundle.js';
import { cleanUpOnExit, isInterrupted, onInterrupt, stopAllChildren } from './children.js';
import { renderNotes, renderTable, type Row } from './report.js';
import { benchAwsCalls } from './aws-calls.js';
import { benchGateHold } from './gate-hold.js';
import { benchPackage } from './package.js';
import { benchLambdaScan } from './lambda-scan.js';
import { benchScan } from './scan.js';

const SECTIONS = ['lambda', 'scan', 'calls', 'gate', 'package'] as const;
type Section = (typeof SECTIONS)[number];

/** The default probe timeout (lib/config.ts); the sequential baseline costs ~100 of them. */
const FULL_TIMEOUT_MS = 2000;
const QUICK_TIMEOUT_MS = 1000;

interface Options {
  quick: boolean;
  only?: Section[];
  timeoutMs?: number;
  repeats?: number;
  json: string;
  memory?: number[];
  cpuProf?: string;
}

function parseArgs(argv: string[]): Options {
  const program = new Command('bench')
    .description('themis benchmarks: figures next to baselines measured in the same run')
    .option('--quick', `probe timeout ${QUICK_TIMEOUT_MS} ms and one run per scan`, false)
    .addOption(
      new Option('--only <sections>', `comma-separated: ${SECTIONS.join(', ')}`).argParser((v) =>
        v.split(',').map((s) => {
          const name = s.trim() as Section;
          if (!SECTIONS.includes(name))
            throw new InvalidArgumentError(`unknown section ${JSON.stringify(s)}`);
          return name;
        }),
      ),
    )
    .option('--timeout-ms <ms>', 'probe timeout for both sides of the scan', (v) => Number(v))
    .option('--repeats <n>', 'runs of each concurrent scan (median reported)', (v) => Number(v))
    .option('--memory <sizes>', 'lambda: memory sizes in MB, comma-separated', (v) =>
      v.split(',').map((m) => {
        const n = Number(m);
        if (!Number.isInteger(n) || n < 128 || n > 10240)
          throw new InvalidArgumentError(`not a Lambda memory size: ${JSON.stringify(m)}`);
        return n;
      }),
    )
    .option('--cpu-prof <dir>', 'lambda: write a V8 CPU profile of each function process there')
    .option(
      '--json <path>',
      'where to write the figures',
      join(PROJECT_ROOT, 'bench', 'results.json'),
    );
  program.parse(argv);
  return program.opts<Options>();
}

function machine() {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

async function main(): Promise<void> {
  cleanUpOnExit();
  const o = parseArgs(process.argv);
  const wanted = new Set<Section>(o.only ?? SECTIONS);
  const timeoutMs = o.timeoutMs ?? (o.quick ? QUICK_TIMEOUT_MS : FULL_TIMEOUT_MS);
  const repeats = o.repeats ?? (o.quick ? 1 : 3);
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const workDir = await mkdtemp(join(tmpdir(), 'themis-bench-'));
  const removeWorkDir = () => rm(workDir, { recursive: true, force: true });
  const forget = onInterrupt(removeWorkDir);
  const started = Date.now();
  const before = machine();
  const rows: Row[] = [];
  try {
    if (wanted.has('lambda')) {
      rows.push(
        ...(
          await benchLambdaScan({
            timeoutMs,
            repeats,
            workDir,
            log,
            ...(o.memory ? { memorySizes: o.memory } : {}),
            ...(o.cpuProf ? { cpuProfDir: o.cpuProf } : {}),
          })
        ).rows,
      );
    }
    if (wanted.has('scan')) {
      rows.push(
        ...(await benchScan({
          timeoutMs,
          repeats,
          workDir,
          log,
        })),
      );
    }
    if (wanted.has('calls')) rows.push(...(await benchAwsCalls()));
    if (wanted.has('gate')) rows.push(...(await benchGateHold()));
    if (wanted.has('package')) {
      rows.push(...(await benchPackage({ runs: o.quick ? 3 : 7, workDir, log })));
    }
  } finally {
    await stopAllChildren();
    await removeWorkDir();
    forget();
  }

  const results = {
    when: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    quick: o.quick,
    probeTimeoutMs: timeoutMs,
    repeats,
    machine: { ...before, loadAverageAfter: loadavg().map((l) => Number(l.toFixed(2))) },
    rows,
  };
  process.stdout.write(`${renderTable(rows)}\n`);
  const notes = renderNotes(rows);
  if (notes) process.stdout.write(`\nNotes\n${notes}\n`);
  process.stdout.write(
    `\n${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGB} GB, Node ${results.machine.node}; load average ${before.loadAverage.join(' ')} before, ${results.machine.loadAverageAfter.join(' ')} after; ${results.durationSeconds} s.\n`,
  );
  await writeFile(o.json, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`Figures written to ${o.json}\n`);
}

main().catch(async (err) => {
  if (isInterrupted()) return; // the signal handler is already stopping everything
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  await stopAllChildren();
  process.exit(1);
});
