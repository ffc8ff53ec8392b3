/**
 * CPU per probe: the shipped prober (got inside our deadline) against a bare node:http GET,
 * in the same process and the same run. Issue 10's "lean probes" goal is ≤ 1.25 × node:http.
 *
 *   npx tsx bench/probe-cpu.ts [probes=2000] [rounds=9] [--json]
 *
 * `npm run bench -- --only scan` runs it too (in a child process) and prints its rows.
 *
 * A node:http server in a child process answers BUSY on 127.0.0.1 (its CPU is not counted).
 * Each round runs every client once over `probes` probes, 50 in flight, in turn; the figure
 * is the median of the rounds' process.cpuUsage (user + system). Besides the two that
 * matter, two rows say where the difference lies: our deadline around a node:http
 * exchange (what the prober itself costs) and got's stream alone (what got costs).
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { pathToFileURL } from 'node:url';
import got from 'got';
import { mergeSettings } from '../lib/config.js';
import type { ProbeResult, Prober } from '../lib/ports.js';
import {
  classifyBody,
  createHttpProber,
  probeMany,
  probeUrl,
  ProbeFailure,
  type ProbeTransport,
} from '../lib/probe.js';

const SERVER = `
  const s = require('node:http').createServer((q, r) => r.end('BUSY'));
  s.listen(0, '127.0.0.1', () => process.send(s.address().port));
  process.on('disconnect', () => process.exit(0));`;

/** The reference: one GET, a timer, no keep-alive, nothing else (as bench/scan-worker.ts). */
function bareNodeHttp(agent: Agent): Prober {
  return {
    probe: (address, settings) =>
      new Promise<ProbeResult>((resolve) => {
        const req = request(probeUrl(address, settings), { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              ...classifyBody(body, settings.busyValue, settings.idleValue),
              latencyMs: 0,
            });
          });
        });
        const timer = setTimeout(() => req.destroy(new Error('timeout')), settings.timeoutMs);
        req.on('error', (err) => resolve({ status: 'unknown', reason: err.message, latencyMs: 0 }));
        req.end();
      }),
  };
}

/** A node:http exchange as a ProbeTransport: our prober's own cost, without got. */
function nodeHttpTransport(agent: Agent): ProbeTransport {
  return (exchange) =>
    new Promise((resolve, reject) => {
      const req = request(exchange.url, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      });
      exchange.signal.addEventListener('abort', () => req.destroy(), { once: true });
      req.on('error', (err) => reject(new ProbeFailure(err.message)));
      req.end();
    });
}

/** got's stream with the shipped options and nothing around it: got's own cost. */
function gotStreamAlone(agent: Agent): Prober {
  const client = got.extend({
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    decompress: false,
    agent: { http: agent },
    headers: { 'user-agent': 'themis-probe', accept: 'text/plain' },
  });
  return {
    probe: (address, settings) =>
      new Promise<ProbeResult>((resolve) => {
        const stream = client.stream(probeUrl(address, settings));
        const chunks: Buffer[] = [];
        stream.on('data', (d: Buffer) => chunks.push(d));
        stream.once('error', (err) =>
          resolve({ status: 'unknown', reason: err.message, latencyMs: 0 }),
        );
        stream.once('end', () =>
          resolve({
            ...classifyBody(
              Buffer.concat(chunks).toString(),
              settings.busyValue,
              settings.idleValue,
            ),
            latencyMs: 0,
          }),
        );
      }),
  };
}

export interface ProbeCpu {
  probes: number;
  rounds: number;
  /** Median CPU ms per 1,000 probes, by client (CLIENTS' names). */
  perThousand: Record<string, number>;
  /** Each median against the bare node:http reference's. */
  ratio: Record<string, number>;
}

export const REFERENCE = 'bare node:http (reference)';
export const SHIPPED = 'themis prober (got, as shipped)';
export const NODE_TRANSPORT = 'themis prober, node:http transport';
export const GOT_ALONE = 'got stream alone, same options';

export async function measureProbeCpu(probes = 2000, rounds = 9): Promise<ProbeCpu> {
  const server = spawn(process.execPath, ['-e', SERVER], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve) =>
      server.once('message', (m) => resolve(Number(m))),
    );
    const settings = mergeSettings({ metricsPort: port, timeoutMs: 10_000 });
    const items = Array.from({ length: probes }, () => ({ address: '127.0.0.1' }));
    const agent = new Agent({ keepAlive: false });
    const clients: Array<[string, Prober]> = [
      [REFERENCE, bareNodeHttp(agent)],
      [SHIPPED, createHttpProber({ loopbackOnly: true })],
      [NODE_TRANSPORT, createHttpProber({ transport: nodeHttpTransport(agent) })],
      [GOT_ALONE, gotStreamAlone(agent)],
    ];
    const cpu = new Map<string, number[]>(clients.map(([name]) => [name, []]));
    for (const [, prober] of clients) await probeMany(prober, items.slice(0, 200), settings, 50);
    for (let r = 0; r < rounds; r++) {
      for (const [name, prober] of clients) {
        const before = process.cpuUsage();
        const results = await probeMany(prober, items, settings, 50);
        const used = process.cpuUsage(before);
        const wrong = results.find((x) => x.result.status !== 'busy');
        if (wrong) throw new Error(`${name}: ${JSON.stringify(wrong.result)}`);
        cpu.get(name)!.push((used.user + used.system) / 1000);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const reference = median(cpu.get(REFERENCE)!);
    const perThousand: Record<string, number> = {};
    const ratio: Record<string, number> = {};
    for (const [name] of clients) {
      const m = median(cpu.get(name)!);
      perThousand[name] = (m / probes) * 1000;
      ratio[name] = m / reference;
    }
    return { probes, rounds, perThousand, ratio };
  } finally {
    server.kill();
  }
}

/** `--json`: the figures as one JSON line (bench/scan.ts runs this file in a child). */
async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--json');
  const json = process.argv.includes('--json');
  const r = await measureProbeCpu(Number(args[0] ?? 2000), Number(args[1] ?? 9));
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  console.log(
    `${r.probes} loopback probes, 50 in flight, median of ${r.rounds} rounds (CPU ms per 1,000 probes)`,
  );
  for (const name of Object.keys(r.perThousand)) {
    console.log(
      `${name.padEnd(38)} ${r.perThousand[name]!.toFixed(0).padStart(5)} ms  ${r.ratio[name]!.toFixed(2)} × node:http`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
