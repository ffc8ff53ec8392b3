/**
 * One scan of the benchmark fleet, in a process of its own so that its peak RSS is its own.
 * bench/scan.ts bundles this file the way serverless.yml bundles the functions and runs it
 * with plain `node`.
 *
 * stdin: one JSON object `{ mode, port, timeoutMs, concurrency, addresses }`;
 * stdout: one JSON line `{ wallMs, cpuMs, maxRssMB, importRssMB, peakFds, counts, calls }`.
 *
 * Modes:
 * - `scan`: the real scan — lib/protect/scan.ts `scanTarget` (list → addresses → probeMany →
 *   plan → apply) over in-memory ports that hold the fleet and count calls; probes go over
 *   HTTP to the loopback fleet.
 * - `sequential`: the themis-lambda baseline — one probe at a time with the same prober and
 *   the same timeout, nothing else.
 * - `idle`: the same imports, nothing run: the memory baseline.
 *
 * `client: 'node-http'` swaps the prober for a bare node:http one (below) — a reference for
 * what the HTTP client itself costs in CPU, not something themis ships.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { mergeSettings } from '../lib/config.js';
import { AddressNotAllowedError } from '../lib/errors.js';
import type {
  GroupDirectory,
  Log,
  GroupSnapshot,
  InstanceAddresses,
  InstanceProtection,
  ProbeResult,
  ProbeStatus,
  Prober,
} from '../lib/ports.js';
import { classifyBody, createHttpProber, isLoopbackAddress, probeUrl } from '../lib/probe.js';
import { scanTarget } from '../lib/protect/scan.js';

export interface ScanJob {
  mode: 'scan' | 'sequential' | 'idle';
  port: number;
  timeoutMs: number;
  concurrency: number;
  client?: 'got' | 'node-http';
  addresses: string[];
}

export interface ScanCalls {
  describeGroups: number;
  privateAddresses: number;
  setInstanceProtection: number;
}

export interface ScanOutcome {
  wallMs: number;
  cpuMs: number;
  maxRssMB: number;
  /** Peak RSS before the job started: what importing cost. */
  importRssMB: number;
  counts: Record<ProbeStatus, number>;
  /** Most file descriptors open at once (sampled; Linux only, else undefined). */
  peakFds?: number;
  calls?: ScanCalls;
}

const GROUP = 'bench-fleet';

/** No log lines: lib/log.ts would bring Powertools into the measured child. */
const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** The fleet as Auto Scaling and EC2 would describe it: all InService, none protected. */
function inMemoryPorts(addresses: string[]) {
  const ids = addresses.map((_, i) => `i-${(i + 1).toString(16).padStart(17, '0')}`);
  const addressOf = new Map(ids.map((id, i) => [id, addresses[i]!]));
  const protectedIds = new Set<string>();
  const calls: ScanCalls = { describeGroups: 0, privateAddresses: 0, setInstanceProtection: 0 };
  const groups: GroupDirectory = {
    async describeGroups(names) {
      calls.describeGroups++;
      if (!names.includes(GROUP)) return [];
      const snapshot: GroupSnapshot = {
        name: GROUP,
        tags: {},
        instances: ids.map((instanceId) => ({
          instanceId,
          lifecycleState: 'InService',
          protectedFromScaleIn: protectedIds.has(instanceId),
        })),
      };
      return [snapshot];
    },
    async findGroupsByTag() {
      return [];
    },
  };
  const instanceAddresses: InstanceAddresses = {
    async privateAddresses(instanceIds) {
      calls.privateAddresses++;
      return new Map(
        instanceIds.flatMap((id) => (addressOf.has(id) ? [[id, addressOf.get(id)!]] : [])),
      );
    },
  };
  const protection: InstanceProtection = {
    async setInstanceProtection(_group, instanceIds, protect) {
      calls.setInstanceProtection++;
      for (const id of instanceIds) {
        if (protect) protectedIds.add(id);
        else protectedIds.delete(id);
      }
    },
  };
  return { groups, addresses: instanceAddresses, protection, calls };
}

/** The reference client: one GET with node:http, a total timeout, no keep-alive, no cap. */
function nodeHttpProber(): Prober {
  const agent = new Agent({ keepAlive: false });
  return {
    probe(address, settings) {
      if (!isLoopbackAddress(address)) throw new AddressNotAllowedError(address);
      const started = performance.now();
      return new Promise<ProbeResult>((resolve) => {
        const done = (r: Omit<ProbeResult, 'latencyMs'>) => {
          clearTimeout(timer);
          resolve({ ...r, latencyMs: Math.round(performance.now() - started) });
        };
        const req = request(probeUrl(address, settings), { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () =>
            done(
              res.statusCode === 200
                ? classifyBody(body, settings.busyValue, settings.idleValue)
                : { status: 'unknown', reason: `HTTP ${res.statusCode}` },
            ),
          );
        });
        const timer = setTimeout(() => req.destroy(new Error('timeout')), settings.timeoutMs);
        req.on('error', (err) => done({ status: 'unknown', reason: err.message }));
        req.end();
      });
    },
  };
}

/**
 * Peak RSS of this process image, in MB. On Linux VmHWM, not resourceUsage().maxRSS: the
 * kernel carries ru_maxrss across fork and exec, so a child started by a parent bigger than
 * itself reports the parent's RSS (measured: a 40 MB child of a 540 MB parent says 504 MB).
 */
export function peakRssMB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // not Linux: fall back below
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** Samples the number of open descriptors; sampling every 50 ms costs well under 1 % CPU. */
function watchFds(): () => number | undefined {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, readdirSync('/proc/self/fd').length);
    } catch {
      peak = Number.NaN;
    }
  };
  sample();
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    return Number.isFinite(peak) ? peak : undefined;
  };
}

async function readJob(): Promise<ScanJob> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as ScanJob;
}

async function main(): Promise<void> {
  // Started with an IPC channel by bench/children.ts: go when the benchmark goes.
  if (process.connected) process.once('disconnect', () => process.exit(0));
  const importRssMB = peakRssMB();
  const job = await readJob();
  const prober =
    job.client === 'node-http' ? nodeHttpProber() : createHttpProber({ loopbackOnly: true });
  const settings = mergeSettings({ metricsPort: job.port, timeoutMs: job.timeoutMs });
  const counts: Record<ProbeStatus, number> = { busy: 0, idle: 0, unknown: 0 };
  let calls: ScanCalls | undefined;
  const fds = watchFds();
  const cpu = process.cpuUsage();
  const started = performance.now();
  if (job.mode === 'sequential') {
    for (const address of job.addresses) counts[(await prober.probe(address, settings)).status]++;
  } else if (job.mode === 'scan') {
    const ports = inMemoryPorts(job.addresses);
    const report = await scanTarget(
      { asgName: GROUP, region: 'us-east-1', ...settings },
      { ...ports, prober, log: quiet, concurrency: job.concurrency },
    );
    if (report.outcome !== 'ok') throw new Error(`scan ${report.outcome}: ${report.message}`);
    for (const p of report.probes) counts[p.status]++;
    calls = ports.calls;
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const peakFds = fds();
  const outcome: ScanOutcome = {
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    maxRssMB: peakRssMB(),
    importRssMB,
    counts,
    ...(peakFds !== undefined ? { peakFds } : {}),
    ...(calls ? { calls } : {}),
  };
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  // Hung sockets of the fleet must not keep the child alive past its answer.
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`scan-worker: ${(err as Error).stack}\n`);
  process.exit(1);
});
