/**
 * deploy/esbuild-plugins.cjs: the SDK's schema modules with their computed keys written as
 * literals must be the same values (every export, deeply), and the rewrite must let esbuild
 * drop the shapes no command we send reaches; http2-wrapper's JSStreamSocket must be the
 * same class, found on first use instead of at load. Broken variants tried: writing the
 * constant's name instead of its literal (caught by the first test, at Auto Scaling's first
 * error shape), and no plugins at all (caught by the second — a TLS socket built at load —
 * and by the third).
 */
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { build, type Plugin } from 'esbuild';
import { PROJECT_ROOT, deployedEsbuildSettings } from '../bench/bundle.js';

const plugins = createRequire(import.meta.url)('../deploy/esbuild-plugins.cjs') as Plugin[];

/** The SDK clients the functions bundle (package.json's dependencies). */
const CLIENTS = [
  'client-auto-scaling',
  'client-ec2',
  'client-ecs',
  'client-sns',
  'client-sqs',
  'client-ssm',
];

async function bundle(source: string, outfile: string, withPlugins: boolean): Promise<string> {
  // The deployed banner: bundled CommonJS code require()s Node's built-ins through it.
  const { banner } = await deployedEsbuildSettings();
  await build({
    ...(banner?.js ? { banner: { js: banner.js } } : {}),
    stdin: { contents: source, resolveDir: PROJECT_ROOT, loader: 'ts' },
    absWorkingDir: PROJECT_ROOT,
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    plugins: withPlugins ? plugins : [],
    logLevel: 'error',
  });
  return outfile;
}

/** A value as text, functions by their source (a schema's thunks, the error classes). */
function canonical(value: unknown, seen = new Set<unknown>()): string {
  if (typeof value === 'function') return `fn:${value.toString()}`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((v) => canonical(v, seen)).join(',')}]`;
    if (value instanceof Map) {
      return `Map{${[...value].map(([k, v]) => `${canonical(k, seen)}=>${canonical(v, seen)}`).join(',')}}`;
    }
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k], seen)}`).join(',')}}`;
  } finally {
    seen.delete(value);
  }
}

describe('deploy/esbuild-plugins.cjs', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'themis-esbuild-plugins-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves every schema of every SDK client we bundle the same value', async function () {
    this.timeout(120_000);
    let compared = 0;
    for (const client of CLIENTS) {
      const schemas = join(PROJECT_ROOT, 'node_modules', '@aws-sdk', client, 'dist-es', 'schemas');
      const files = (await readdir(schemas)).filter((f) => /^schemas_\d+\.js$/.test(f));
      expect(files.length, client).to.be.greaterThan(0);
      for (const file of files) {
        const source = `export * from ${JSON.stringify(join(schemas, file))};\n`;
        const name = `${client}-${file.replace(/\.js$/, '')}`;
        const [plain, rewritten] = await Promise.all([
          bundle(source, join(dir, `${name}-plain.mjs`), false),
          bundle(source, join(dir, `${name}-rewritten.mjs`), true),
        ]);
        const before = (await import(pathToFileURL(plain).href)) as Record<string, unknown>;
        const after = (await import(pathToFileURL(rewritten).href)) as Record<string, unknown>;
        expect(Object.keys(after).sort(), name).to.deep.equal(Object.keys(before).sort());
        for (const key of Object.keys(before)) {
          expect(canonical(after[key]), `${name} ${key}`).to.equal(canonical(before[key]));
          compared++;
        }
      }
    }
    // EC2 alone declares thousands of shapes; a handful would mean the import went wrong.
    expect(compared).to.be.greaterThan(5000);
  });

  it("builds http2-wrapper's JSStreamSocket on first use, not when the bundle loads", async () => {
    const source = `export { default as JSStreamSocket } from ${JSON.stringify(
      join(PROJECT_ROOT, 'node_modules', 'http2-wrapper', 'source', 'utils', 'js-stream-socket.js'),
    )};\n`;
    const file = await bundle(source, join(dir, 'js-stream-socket.mjs'), true);
    // Count the TLS sockets built while the bundle loads and while it is used.
    const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    const Original = tls.TLSSocket;
    let built = 0;
    tls.TLSSocket = class extends Original {
      constructor(...args: ConstructorParameters<typeof Original>) {
        super(...args);
        built++;
      }
    };
    try {
      const { JSStreamSocket } = (await import(pathToFileURL(file).href)) as {
        JSStreamSocket: new (stream: Duplex) => object;
      };
      expect(built, 'TLS sockets built at load').to.equal(0);
      const socket = new JSStreamSocket(new PassThrough());
      expect(built, 'TLS sockets built by the first new').to.equal(1);
      expect(socket.constructor.name).to.equal('JSStreamSocket');
      new JSStreamSocket(new PassThrough());
      expect(built, 'the class is found once').to.equal(1);
    } finally {
      tls.TLSSocket = Original;
    }
  });

  it("lets esbuild drop the EC2 shapes that DescribeInstances doesn't reach", async () => {
    const source = "export { EC2Client, DescribeInstancesCommand } from '@aws-sdk/client-ec2';\n";
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(await bundle(source, join(dir, 'ec2.mjs'), true), 'utf8');
    // Reached: the request and the reservations in its answer.
    expect(text).to.include('DescribeInstancesRequest');
    expect(text).to.include('"PrivateIpAddress"');
    // Not reached: another operation's shapes.
    expect(text).to.not.include('RunInstancesRequest');
    expect(text).to.not.include('CreateVpcEndpointRequest');
  });
});
