/**
 * One scan of the benchmark fleet, in its own process so its peak RSS is its own.
 * argv: <mode: concurrent|sequential> <port> <timeoutMs> <concurrency>; the fleet's addresses
 * arrive on stdin as JSON. Prints `{ wallMs, maxRssMB, counts }`.
 *
 * `sequential` is the themis-lambda baseline: one probe at a time, same engine, same timeout.
 */
import { mergeSettings } from '../lib/config.js';
import { createHttpProber, probeMany } from '../lib/probe.js';
import type { ProbeResult } from '../lib/ports.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const [mode, port, timeoutMs, concurrency] = process.argv.slice(2);
  const addresses = JSON.parse(await readStdin()) as string[];
  const prober = createHttpProber({ loopbackOnly: true });
  const settings = mergeSettings({ metricsPort: Number(port), timeoutMs: Number(timeoutMs) });
  const items = addresses.map((address) => ({ address }));
  const started = performance.now();
  let results: ProbeResult[];
  if (mode === 'sequential') {
    results = [];
    for (const { address } of items) results.push(await prober.probe(address, settings));
  } else {
    results = (await probeMany(prober, items, settings, Number(concurrency))).map((r) => r.result);
  }
  const wallMs = performance.now() - started;
  const counts = { busy: 0, idle: 0, unknown: 0 };
  for (const r of results) counts[r.status]++;
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ wallMs, maxRssMB, counts })}\n`);
}

main().catch((err) => {
  process.stderr.write(`scan-worker: ${(err as Error).stack}\n`);
  process.exit(1);
});
