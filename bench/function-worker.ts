/**
 * The protect function as Lambda runs it, invoked several times in one process: the first
 * invocation is the cold scan (fresh clients, empty address cache), the next ones are warm.
 * bench/lambda-scan.ts bundles this file with serverless.yml's esbuild settings and runs it
 * with plain `node`, the function's environment and AWS_ENDPOINT_URL pointing at moto, inside
 * a cgroup holding it to a Lambda memory size's CPU share.
 *
 * The only thing added to the function is counting: `send` of the two SDK clients is wrapped
 * to count calls by command (the bundle holds one copy of each client, the function's).
 *
 * stdin: `{ invocations }`; stdout: the function's own log and EMF lines, then one line
 * `RESULT_MARK{ readyMs, runs: [...], maxRssMB }`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { handler } from '../functions/protect.js';
import {
  RESULT_MARK,
  type FunctionJob,
  type FunctionOutcome,
  type InvocationRun,
} from './function-protocol.js';

const readyMs = performance.now();

let calls: Record<string, number> = {};
let awsMs: Record<string, number> = {};
for (const client of [AutoScalingClient, EC2Client]) {
  const send = client.prototype.send as (...args: unknown[]) => Promise<unknown>;
  client.prototype.send = function (this: unknown, ...args: unknown[]) {
    const name = (args[0] as { constructor: { name: string } }).constructor.name;
    calls[name] = (calls[name] ?? 0) + 1;
    const started = performance.now();
    const settled = () => (awsMs[name] = (awsMs[name] ?? 0) + performance.now() - started);
    const sent = send.apply(this, args);
    sent.then(settled, settled);
    return sent;
  } as typeof client.prototype.send;
}

/** Linux: start a new peak (VmHWM) from the current RSS; false where that is not possible. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function peakRssMB(): number {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

async function readJob(): Promise<FunctionJob> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as FunctionJob;
}

let invocation = -1;

async function main(): Promise<void> {
  if (process.connected) process.once('disconnect', () => process.exit(0));
  // Node leaves when nothing keeps the event loop alive, even with a promise pending: that
  // would be a handler awaiting something no timer or socket will ever settle.
  process.once('beforeExit', () => {
    process.stderr.write(
      `function-worker: the event loop emptied during invocation ${invocation + 1} (a promise nothing will settle)\n`,
    );
    process.exit(3);
  });
  const job = await readJob();
  const runs: InvocationRun[] = [];
  // The process's peak over every invocation (resetting VmHWM per invocation loses it).
  let highest = 0;
  for (let i = 0; i < job.invocations; i++) {
    invocation = i;
    const processPeak = peakRssMB();
    const reset = resetPeakRss();
    calls = {};
    awsMs = {};
    const deadline = Date.now() + job.timeoutMs;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await handler({}, { getRemainingTimeInMillis: () => deadline - Date.now() });
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const invocationPeak = peakRssMB();
    highest = Math.max(highest, processPeak, invocationPeak);
    runs.push({
      wallMs,
      cpuMs: (used.user + used.system) / 1000,
      calls,
      awsMs,
      ...(reset ? { maxRssMB: invocationPeak } : {}),
      groups: result.scans.flatMap((s) =>
        s.groups.map((g) => ({
          asgName: g.asgName,
          outcome: g.outcome,
          durationMs: g.durationMs,
          busy: Object.values(g.busy),
          idle: Object.values(g.idle),
          unknown: Object.values(g.error),
        })),
      ),
    });
  }
  const outcome: FunctionOutcome = {
    readyMs,
    runs,
    maxRssMB: Math.max(highest, peakRssMB()),
  };
  // stdout to the parent is asynchronous: leave once everything before this line is out.
  process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(outcome)}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`function-worker: ${(err as Error).stack}\n`);
  process.exit(1);
});
