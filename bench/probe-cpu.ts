/**
 * CPU per probe: the shipped prober (got inside our deadline) against a bare node:http GET,
 * in the same process and the same run. Issue 10's "lean probes" goal is ≤ 1.25 × node:http.
 *
 *   npx tsx bench/probe-cpu.ts [probes=2000] [rounds=9]
 *
 * A node:http server in a child process answers BUSY on 127.0.0.1 (its CPU is not counted).
 * Each round runs every client once over `probes` probes, 50 in flight, in turn; the figure
 * is the median of the rounds' process.cpuUsage (user + system). Besides the two that
 * matter, two rows say where the difference lies: our deadline around a node:http
 * exchange (what the prober itself costs) and got's stream alone (what got costs).
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
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

async function main(): Promise<void> {
  const probes = Number(process.argv[2] ?? 2000);
  const rounds = Number(process.argv[3] ?? 9);
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
      ['bare node:http (reference)', bareNodeHttp(agent)],
      ['themis prober (got, as shipped)', createHttpProber({ loopbackOnly: true })],
      [
        'themis prober, node:http transport',
        createHttpProber({ transport: nodeHttpTransport(agent) }),
      ],
      ['got stream alone, same options', gotStreamAlone(agent)],
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
    const reference = median(cpu.get(clients[0]![0])!);
    console.log(
      `${probes} loopback probes, 50 in flight, median of ${rounds} rounds (CPU ms per 1,000 probes)`,
    );
    for (const [name] of clients) {
      const m = median(cpu.get(name)!);
      console.log(
        `${name.padEnd(38)} ${((m / probes) * 1000).toFixed(0).padStart(5)} ms  ${(m / reference).toFixed(2)} × node:http`,
      );
    }
  } finally {
    server.kill();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
