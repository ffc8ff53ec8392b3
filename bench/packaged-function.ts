/**
 * A packaged function (an unzipped `serverless package` artefact) in a process of its own, as
 * one warm Lambda container: plain `node` with the function's environment, the heap Node
 * sizes for `memoryMB` and, when given, a cgroup CPU quota of that size's share; the handler
 * is imported once and invoked with one event at a time. After the import and after each
 * invocation the process reports its VmHWM (Linux; ru_maxrss would include the RSS of the
 * parent it was forked from), so the figure is the container's peak so far.
 */
import { createInterface } from 'node:readline';
import { handlerModule } from '../test/packaging/run-bundle.js';
import type { CpuLimit } from './cgroup.js';
import { startChild, stopChild } from './children.js';
import { lambdaHeapFlags } from './scan.js';

const MARK = '@@bench-packaged@@';

// Stands in for the Lambda runtime's bootstrap: import the handler once, then invoke it with
// one event per stdin line, answering each with a line; VmHWM read after each.
const RUNNER = `
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
if (process.connected) process.once('disconnect', () => process.exit(0));
const [file, name, timeoutMs] = process.argv.slice(1);
const hwm = () => Number(/^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const mod = await import(pathToFileURL(file).href);
process.stdout.write('${MARK}' + JSON.stringify({ rssMB: hwm() }) + '\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const deadline = Date.now() + Number(timeoutMs);
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    awsRequestId: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  let outcome;
  try {
    outcome = { result: (await mod[name](JSON.parse(line), context)) ?? null };
  } catch (err) {
    outcome = { error: String(err?.stack ?? err) };
  }
  const used = process.cpuUsage(cpu);
  process.stdout.write('${MARK}' + JSON.stringify({ ...outcome, wallMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000, rssMB: hwm() }) + '\\n');
}
process.exit(0);
`;

export interface Invocation {
  what: string;
  result: unknown;
  wallMs: number;
  cpuMs: number;
  /** VmHWM after it: the process's peak so far. */
  rssMB: number;
}

export interface PackagedFunction {
  /** VmHWM once the handler is imported: the cold start. */
  importRssMB: number;
  invocations: Invocation[];
  /** Invoke once; a thrown error fails the benchmark, naming `what`. */
  invoke(what: string, event: unknown): Promise<Invocation>;
  stop(): Promise<void>;
}

export async function startPackaged(o: {
  /** The function's name, for messages. */
  label: string;
  taskDir: string;
  handler: string;
  /** The function's environment (NODE_OPTIONS, if any, is given as node flags). */
  env: Record<string, string>;
  memoryMB: number;
  timeoutMs: number;
  cpu?: CpuLimit;
  log: (line: string) => void;
}): Promise<PackagedFunction> {
  const { file, name } = handlerModule(o.taskDir, o.handler);
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    ...o.env,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(o.memoryMB),
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: o.taskDir,
  };
  const nodeOptions = env.NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [];
  delete env.NODE_OPTIONS; // given as flags, next to the heap flags
  const argv = [
    process.execPath,
    ...nodeOptions,
    ...lambdaHeapFlags(o.memoryMB),
    '--input-type=module',
    '-e',
    RUNNER,
    file,
    name,
    String(o.timeoutMs),
  ];
  const { command, args } = o.cpu ? o.cpu.wrap(argv) : { command: argv[0]!, args: argv.slice(1) };
  const { child, done } = startChild(command, args, { cwd: o.taskDir, env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const { value, done: ended } = await lines.next();
      if (ended) {
        const f = await done;
        throw new Error(
          `${o.label} exited (${f.code ?? f.signal}): ${f.stderr.trim().slice(-2000)}`,
        );
      }
      const line = value as string;
      if (line.startsWith(MARK))
        return JSON.parse(line.slice(MARK.length)) as Record<string, unknown>;
    }
  };
  try {
    const ready = await next();
    const invocations: Invocation[] = [];
    return {
      importRssMB: ready.rssMB as number,
      invocations,
      async invoke(what, event) {
        child.stdin!.write(`${JSON.stringify(event)}\n`);
        const out = await next();
        if (out.error) throw new Error(`${o.label}, ${what}: ${out.error as string}`);
        const run: Invocation = {
          what,
          result: out.result,
          wallMs: out.wallMs as number,
          cpuMs: out.cpuMs as number,
          rssMB: out.rssMB as number,
        };
        invocations.push(run);
        o.log(
          `${o.label} at ${o.memoryMB} MB, ${what}: ${Math.round(run.wallMs)} ms, VmHWM ${run.rssMB.toFixed(1)} MB`,
        );
        return run;
      },
      async stop() {
        child.stdin!.end();
        await stopChild(child);
      },
    };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}
