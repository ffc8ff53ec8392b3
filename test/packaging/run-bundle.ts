/**
 * Runs a packaged function the way Lambda's Node.js runtime does: unzip the artefact into a
 * task directory, resolve the handler (`functions/gate.handler` → functions/gate.{js,mjs,cjs}),
 * import it as a module in a fresh plain `node` (no tsx, no project node_modules, only the
 * function's environment) and call it with an event and a context. Bundling mistakes — a
 * dependency left out, `require` in an ES module, a wrong extension — fail here even when
 * every source-level test passes.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BundleRun {
  /** The handler's return value, when it returned. */
  result?: unknown;
  /** What it threw (or why it could not be loaded). */
  error?: { name: string; message: string };
  /** JSON log lines the function wrote (Powertools logs to stdout). */
  logs: Record<string, unknown>[];
  stdout: string;
  stderr: string;
}

/** Unzip an artefact into a new temp directory (Lambda's /var/task). */
export async function unzipArtefact(zipPath: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'themis-task-'));
  try {
    await run('unzip', ['-q', zipPath, '-d', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if ((err as { code?: unknown }).code === 'ENOENT') {
      throw new Error('unzip is not installed (apt-get install unzip)', { cause: err });
    }
    throw err;
  }
  return dir;
}

/** Lambda's lookup order for a handler module. */
export function handlerModule(taskDir: string, handler: string): { file: string; name: string } {
  const dot = handler.lastIndexOf('.');
  const base = handler.slice(0, dot);
  const name = handler.slice(dot + 1);
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const file = join(taskDir, `${base}${ext}`);
    if (existsSync(file)) return { file, name };
  }
  throw new Error(`no module for handler ${handler} in ${taskDir}`);
}

const RESULT_MARK = '@@themis-bundle-result@@';

// The runner: ES module code given to `node --input-type=module -e`. It stands in for the
// Lambda runtime's bootstrap, not for anything under test.
const RUNNER = `
import { pathToFileURL } from 'node:url';
const [file, name, eventJson, timeoutMs] = process.argv.slice(1);
const deadline = Date.now() + Number(timeoutMs);
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:' + process.env.AWS_REGION + ':123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: '256',
  awsRequestId: 'packaging-test-request',
  logGroupName: '/aws/lambda/' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  logStreamName: 'packaging-test',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
let outcome;
try {
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod[name] !== 'function') throw new TypeError(name + ' is not exported as a function');
  outcome = { result: await mod[name](JSON.parse(eventJson), context) };
} catch (err) {
  outcome = { error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) } };
}
process.stdout.write('\\n${RESULT_MARK}' + JSON.stringify(outcome) + '\\n');
process.exit(0);
`;

/**
 * Import `handler` from the unzipped task directory and call it once with `event`, in a child
 * `node` whose environment is exactly `env` plus PATH and Lambda's own variables.
 */
export async function invokeBundle(options: {
  taskDir: string;
  handler: string;
  functionName: string;
  event: unknown;
  env: Record<string, string>;
  timeoutMs?: number;
}): Promise<BundleRun> {
  const { file, name } = handlerModule(options.taskDir, options.handler);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LAMBDA_TASK_ROOT: options.taskDir,
    AWS_LAMBDA_FUNCTION_NAME: options.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    ...options.env,
  };
  const { stdout, stderr } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      RUNNER,
      file,
      name,
      JSON.stringify(options.event),
      String(timeoutMs),
    ],
    { cwd: options.taskDir, env, timeout: timeoutMs + 10_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const at = stdout.lastIndexOf(RESULT_MARK);
  if (at < 0) throw new Error(`the bundle runner printed no result:\n${stdout}\n${stderr}`);
  const outcome = JSON.parse(stdout.slice(at + RESULT_MARK.length)) as Pick<
    BundleRun,
    'result' | 'error'
  >;
  const logs = stdout
    .slice(0, at)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return { ...outcome, logs, stdout: stdout.slice(0, at), stderr };
}
