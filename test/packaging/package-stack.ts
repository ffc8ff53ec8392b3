/**
 * Runs `serverless package` (osls) the way a user would, but offline and isolated: the project
 * files are copied into a fresh temp directory (node_modules linked, not copied), so two test
 * runs in the same working tree never share `.esbuild/` or `.serverless/`, and the artefacts
 * go to `--package <dir>` inside it.
 *
 * Offline is enforced, not assumed: the child gets dummy credentials, instance metadata
 * disabled and every AWS endpoint pointed at a closed loopback port, so a packaging step that
 * tried to reach AWS would fail the test instead of going out on the network.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** What `serverless package` needs from the project (sources, config, the stack helper). */
const PROJECT_FILES = [
  'serverless.yml',
  'package.json',
  'tsconfig.json',
  'deploy',
  'functions',
  'lib',
];

/** A closed port on loopback: connecting to it is refused at once. */
const NOWHERE = 'http://127.0.0.1:9';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
}

export interface Template {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
}

export interface PackagedStack {
  /** The temp copy of the project that was packaged. */
  workDir: string;
  /** The `--package` directory: template, state and one zip per function. */
  outDir: string;
  templatePath: string;
  template: Template;
  /** Function name (as in serverless.yml) → zip path. */
  zips: Record<string, string>;
  /** What osls printed. */
  output: string;
  cleanup(): Promise<void>;
}

export class PackageError extends Error {
  override name = 'PackageError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The environment osls runs in: nothing from ours but PATH, and no way to reach AWS. */
function offlineEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    AWS_ACCESS_KEY_ID: 'offline',
    AWS_SECRET_ACCESS_KEY: 'offline',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: NOWHERE,
    NO_COLOR: '1',
  };
}

/**
 * Copy the project into a new temp directory. `overlay` (path in the project → path on disk)
 * replaces parts of the copy, e.g. to package a variant of a file without touching the tree.
 */
export async function copyProject(overlay: Record<string, string> = {}): Promise<string> {
  const workDir = await mkdtemp(join(tmpdir(), 'themis-package-'));
  for (const entry of PROJECT_FILES) {
    // A missing part (functions/ before its handlers exist) makes osls say what is missing.
    if (!existsSync(join(PROJECT_ROOT, entry))) continue;
    await cp(join(PROJECT_ROOT, entry), join(workDir, entry), { recursive: true });
  }
  for (const [entry, source] of Object.entries(overlay)) {
    await rm(join(workDir, entry), { recursive: true, force: true });
    await cp(source, join(workDir, entry), { recursive: true });
  }
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(workDir, 'node_modules'), 'dir');
  return workDir;
}

export interface PackageOptions {
  stage: string;
  region?: string;
  params?: Record<string, string>;
  overlay?: Record<string, string>;
}

/**
 * At most this many `serverless package` runs at once in this process: one is mostly a single
 * core's work (osls resolving the config), so a test file that needs several starts them
 * together and two cores package two at a time.
 */
const PACKAGE_SLOTS = Math.max(1, Math.min(availableParallelism(), 2));
let running = 0;
const waiting: (() => void)[] = [];

async function runSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= PACKAGE_SLOTS) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * `serverless package --stage <stage> --region <region> --param k=v …` in a temp copy.
 * Rejects with a PackageError carrying osls's output when packaging fails.
 */
export async function packageStack(options: PackageOptions): Promise<PackagedStack> {
  return runSlot(() => packageNow(options));
}

async function packageNow(options: PackageOptions): Promise<PackagedStack> {
  const workDir = await copyProject(options.overlay);
  const outDir = join(workDir, 'package-out');
  const cleanup = () => rm(workDir, { recursive: true, force: true });
  const args = [
    join(PROJECT_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js'),
    'package',
    '--stage',
    options.stage,
    '--region',
    options.region ?? 'us-east-1',
    '--package',
    outDir,
    ...Object.entries(options.params ?? {}).flatMap(([k, v]) => ['--param', `${k}=${v}`]),
  ];
  let output: string;
  try {
    const child = run(process.execPath, args, {
      cwd: workDir,
      env: offlineEnv(workDir),
      // Bundling both functions takes seconds here; minutes means something is stuck.
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // Nothing to answer: a prompt must see end-of-input, not wait for it.
    child.child.stdin?.end();
    const { stdout, stderr } = await child;
    output = stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    await cleanup();
    throw new PackageError(`serverless package failed: ${e.message}\n${out}`, out);
  }
  const templatePath = join(outDir, 'cloudformation-template-update-stack.json');
  const template = JSON.parse(await readFile(templatePath, 'utf8')) as Template;
  const zips: Record<string, string> = {};
  for (const file of await readdir(outDir)) {
    if (file.endsWith('.zip')) zips[file.slice(0, -'.zip'.length)] = join(outDir, file);
  }
  return { workDir, outDir, templatePath, template, zips, output, cleanup };
}

/** Packages made by `packageOnce`, by what they were made from; removed when the process exits. */
const once = new Map<string, Promise<PackagedStack>>();
const onceDirs = new Set<string>();

/** What a package is made from: the options, and the content of every overlaid file. */
function packageKey(options: PackageOptions): string {
  const contentOf = (path: string): string => {
    const h = createHash('sha256');
    const walk = (p: string) => {
      if (statSync(p).isDirectory()) {
        for (const name of readdirSync(p).sort()) walk(join(p, name));
      } else h.update(p.slice(path.length)).update(readFileSync(p));
    };
    walk(path);
    return h.digest('hex');
  };
  return JSON.stringify([
    options.stage,
    options.region ?? 'us-east-1',
    Object.entries(options.params ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    Object.entries(options.overlay ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([entry, source]) => [entry, contentOf(source)]),
  ]);
}

/**
 * `packageStack`, once per process for the same options and overlay content: test files that
 * check the same stack (test/packaging.test.ts's full stack is test/packaging-compare's
 * "full") share one `serverless package`. Read-only: `cleanup()` does nothing, the files go
 * when the process exits. A failed packaging is not kept.
 */
export function packageOnce(options: PackageOptions): Promise<PackagedStack> {
  const key = packageKey(options);
  let stack = once.get(key);
  if (!stack) {
    if (once.size === 0) {
      process.once('exit', () => {
        for (const dir of onceDirs) rmSync(dir, { recursive: true, force: true });
      });
    }
    stack = packageStack(options).then(
      (made) => {
        onceDirs.add(made.workDir);
        return { ...made, cleanup: async () => {} };
      },
      (err: unknown) => {
        once.delete(key);
        throw err;
      },
    );
    once.set(key, stack);
  }
  return stack;
}

// ---------------------------------------------------------------------------------------
// Reading the template.

export function resourcesOfType(template: Template, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

export function resource(template: Template, logicalId: string): CfnResource {
  const r = template.Resources[logicalId];
  if (!r) throw new Error(`the template has no resource ${logicalId}`);
  return r;
}

export function props(r: CfnResource): Record<string, unknown> {
  return r.Properties ?? {};
}

export function dependsOn(r: CfnResource): string[] {
  if (r.DependsOn === undefined) return [];
  return Array.isArray(r.DependsOn) ? r.DependsOn : [r.DependsOn];
}

/** The logical id `{Ref: X}` or `{Fn::GetAtt: [X, …]}` points at, else undefined. */
export function refersTo(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}
