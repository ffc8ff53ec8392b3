/**
 * The `themis` command as it ships: `npm pack` (prepack builds dist/ with
 * scripts/build-cli.ts), installed globally into a temporary prefix from the tarball (its
 * dependencies from the npm cache or registry), then run as `<prefix>/bin/themis` — plain
 * Node, no TypeScript loader — for --help and for `status` against moto_server.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { StatusRow } from '../../lib/cli/format.js';
import { createLoopbackFleet, startMoto, type Moto, type MotoFleet } from '../helpers/moto.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** This process's environment without the variables `npm test` adds for its own run. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
  );
}

/** Every file under `dir` (relative paths), skipping node_modules. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === 'node_modules') continue;
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

describe('themis as a package (npm pack, global install) @slow', function () {
  // npm pack + install from the cache takes ~20 s here; a cold cache fetches from the registry.
  this.timeout(300_000);
  let tmp: string;
  let prefix: string;
  let installed: string;
  let moto: Moto;
  let fleet: MotoFleet;
  let workers: WorkerSet;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'themis-pack-'));
    prefix = join(tmp, 'prefix');
    const pack = await run('npm', ['pack', '--pack-destination', tmp, '--json'], npmEnv());
    expect(pack.code, pack.stderr).to.equal(0);
    const [{ filename }] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as [
      { filename: string },
    ];
    const install = await run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        join(tmp, filename),
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      npmEnv(),
      tmp,
    );
    expect(install.code, install.stderr).to.equal(0);
    installed = join(prefix, 'lib', 'node_modules', 'themis');

    moto = await startMoto();
    fleet = await createLoopbackFleet(moto, { groupName: 'packed', size: 2 });
    const [busy, idle] = fleet.instanceIds as [string, string];
    workers = await startWorkersOnOnePort([
      [fleet.addresses.get(busy)!, { kind: 'answer', body: 'BUSY' }],
      [fleet.addresses.get(idle)!, { kind: 'answer', body: 'IDLE' }],
    ]);
  });
  after(async () => {
    await workers?.close();
    await moto?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The installed command, with only what an operator's shell would have. */
  function themis(...args: string[]): Promise<Run> {
    return run(join(prefix, 'bin', 'themis'), args, {
      PATH: process.env.PATH,
      HOME: tmp,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: moto.region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      THEMIS_LOOPBACK_ONLY: '1',
    });
  }

  it('ships JavaScript only: no TypeScript file and no TypeScript loader', () => {
    const files = filesUnder(installed);
    expect(files.filter((f) => /\.(c|m)?ts$/.test(f))).to.deep.equal([]);
    expect(files).to.include('dist/themis.js');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(manifest.bin).to.deep.equal({ themis: 'dist/themis.js' });
    expect(Object.keys(manifest.dependencies)).to.not.include('tsx');
    expect(readdirSync(join(installed, 'node_modules'))).to.not.include('tsx');
    expect(readFileSync(join(installed, 'dist', 'themis.js'), 'utf8')).to.match(
      /^#!\/usr\/bin\/env node\n/,
    );
  });

  it('runs `themis --help` from the global install', async () => {
    const help = await themis('--help');
    expect(help.stderr).to.equal('');
    expect(help.code).to.equal(0);
    for (const command of ['status', 'protect', 'holds', 'release', 'sandbox']) {
      expect(help.stdout).to.match(new RegExp(`^  ${command} `, 'm'));
    }
  });

  it('runs `themis status` against moto and probes the fleet on loopback', async () => {
    const status = await themis(
      'status',
      '--asg',
      'packed',
      '--port',
      String(workers.port),
      '--json',
    );
    expect(status.stderr).to.equal('');
    expect(status.code).to.equal(0);
    const out = JSON.parse(status.stdout) as { asgName: string; instances: StatusRow[] };
    expect(out.asgName).to.equal('packed');
    const [busy, idle] = fleet.instanceIds as [string, string];
    const probe = Object.fromEntries(out.instances.map((r) => [r.instanceId, r.probe]));
    expect(probe).to.deep.equal({ [busy]: 'busy', [idle]: 'idle' });
  });

  it('gives one line on stderr for an error, as from the source', async () => {
    const missing = await themis('status', '--asg', 'missing');
    expect(missing.code).to.equal(1);
    expect(missing.stdout).to.equal('');
    expect(missing.stderr).to.equal(
      'themis: Auto Scaling group "missing" not found in us-east-1\n',
    );
  });
});
