/**
 * scripts/ensure-moto.sh in a scratch copy of the repository, with a PATH holding only the
 * stand-in programs each case needs (moto_server, python3, pip), so every branch runs here
 * without touching the real .venv or the network.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';

const SCRIPT = resolve('scripts/ensure-moto.sh');
const BASH = '/bin/bash';

function writeProgram(path: string, body: string): void {
  writeFileSync(path, `#!${BASH}\n${body}\n`);
  chmodSync(path, 0o755);
}

describe('scripts/ensure-moto.sh', () => {
  let root: string;
  let bin: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'themis-ensure-moto-'));
    mkdirSync(join(root, 'scripts'));
    copyFileSync(SCRIPT, join(root, 'scripts/ensure-moto.sh'));
    bin = join(root, 'fake-bin');
    mkdirSync(bin);
    // The one external command the script uses besides the ones each case fakes.
    symlinkSync('/bin/rm', join(bin, 'rm'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  /** Runs the script from another directory, as npm would from anywhere. */
  function run() {
    const result = spawnSync(BASH, [join(root, 'scripts/ensure-moto.sh')], {
      cwd: tmpdir(),
      env: { PATH: bin, TMPDIR: root },
      encoding: 'utf8',
    });
    const lines = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l !== '');
    return { status: result.status, lines };
  }

  it('succeeds quietly when a working moto_server is on PATH', () => {
    writeProgram(join(bin, 'moto_server'), 'exit 0');
    writeProgram(join(bin, 'python3'), `echo called > "${root}/python3-called"; exit 1`);

    expect(run()).to.deep.equal({ status: 0, lines: [] });
    expect(existsSync(join(root, 'python3-called'))).to.equal(false);
  });

  it('succeeds quietly when the project virtualenv has moto_server', () => {
    mkdirSync(join(root, '.venv/bin'), { recursive: true });
    writeProgram(join(root, '.venv/bin/moto_server'), 'exit 0');
    writeProgram(join(bin, 'python3'), `echo called > "${root}/python3-called"; exit 1`);

    expect(run()).to.deep.equal({ status: 0, lines: [] });
    expect(existsSync(join(root, 'python3-called'))).to.equal(false);
  });

  it('installs moto[server] into .venv when there is none', () => {
    // A shim that is on PATH but cannot run moto (pyenv does this) does not count.
    writeProgram(join(bin, 'moto_server'), 'exit 127');
    // What `pip install` would leave behind: a moto_server in the virtualenv.
    writeProgram(
      join(root, 'fake-pip'),
      [
        `echo "$@" > "${root}/pip-args"`,
        `printf '#!${BASH}\\nexit 0\\n' > "${root}/.venv/bin/moto_server"`,
        `/usr/bin/chmod +x "${root}/.venv/bin/moto_server"`,
      ].join('\n'),
    );
    writeProgram(
      join(bin, 'python3'),
      [
        '[ "$1 $2" = "-m venv" ] || exit 2',
        '/usr/bin/mkdir -p "$3/bin"',
        `/usr/bin/cp "${root}/fake-pip" "$3/bin/pip"`,
      ].join('\n'),
    );

    const { status, lines } = run();

    expect(status).to.equal(0);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.contain('installing moto[server] into .venv');
    expect(readFileSync(join(root, 'pip-args'), 'utf8')).to.contain('install');
    expect(readFileSync(join(root, 'pip-args'), 'utf8')).to.contain('moto[server]');
    expect(existsSync(join(root, '.venv/bin/moto_server'))).to.equal(true);
    expect(readdirSync(root).filter((f) => f.endsWith('.log'))).to.deep.equal([]);
  });

  it('fails with one line saying how to install moto when installing fails', () => {
    writeProgram(join(bin, 'python3'), 'echo "No module named venv" >&2; exit 1');

    const { status, lines } = run();

    expect(status).to.equal(1);
    // The notice that it is trying, then the one line that says what to do.
    expect(lines).to.have.length(2);
    expect(lines[1]).to.match(/^ensure-moto: .*pip install "moto\[server\]"/);
    const [log] = readdirSync(root).filter((f) => f.endsWith('.log'));
    expect(lines[1]).to.contain(join(root, log!));
    expect(readFileSync(join(root, log!), 'utf8')).to.contain('No module named venv');
    expect(existsSync(join(root, '.venv/bin/moto_server'))).to.equal(false);
  });
});
