/**
 * `themis release` asks on stderr and reads the answer from its real stdin (the default
 * CLI context), in a child process whose Auto Scaling is aws-sdk-client-mock
 * (test/cli/fixtures/mocked-aws-cli.ts): moto cannot hold an instance in Terminating:Wait.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  completions: Array<Record<string, string>>;
}

describe('themis release, answered through stdin @slow', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'themis-release-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  let runs = 0;
  function release(stdin: string | null, ...extra: string[]): Promise<Run> {
    const callsFile = join(dir, `calls-${++runs}.json`);
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'test/cli/fixtures/mocked-aws-cli.ts',
          'release',
          '--asg',
          'workers',
          '--instance',
          'i-0000000000000000a',
          ...extra,
        ],
        {
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            THEMIS_LOOPBACK_ONLY: '1',
            THEMIS_TEST_CALLS_FILE: callsFile,
          },
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        const completions = JSON.parse(readFileSync(callsFile, 'utf8')) as Run['completions'];
        resolve({ code, stdout, stderr, completions });
      });
      // Answer only once the question is on stderr, as a person would.
      child.stderr.on('data', () => {
        if (stdin !== null && stderr.includes('[y/N] ') && child.stdin.writable) {
          child.stdin.end(stdin);
        }
      });
      if (stdin === null) child.stdin.end();
    });
  }

  it('completes the action after "y" is typed', async () => {
    const run = await release('y\n');
    expect(run.stderr).to.equal(
      'Complete the lifecycle action of i-0000000000000000a (Terminating:Wait, hook drain) in workers with CONTINUE? Then Auto Scaling terminates it. [y/N] ',
    );
    expect(run.code).to.equal(0);
    expect(run.stdout).to.equal(
      'released i-0000000000000000a from hook drain of workers (CONTINUE): Auto Scaling terminates it\n',
    );
    expect(run.completions).to.deep.equal([
      {
        AutoScalingGroupName: 'workers',
        LifecycleHookName: 'drain',
        LifecycleActionResult: 'CONTINUE',
        InstanceId: 'i-0000000000000000a',
      },
    ]);
  });

  it('completes nothing after "n", with one line saying so', async () => {
    const run = await release('n\n', '--abandon');
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(
      /with ABANDON\? .*\[y\/N\] themis: not released: i-0000000000000000a \(not confirmed\)\n$/,
    );
    expect(run.stdout).to.equal('');
    expect(run.completions).to.deep.equal([]);
  });

  it('completes nothing when stdin ends without an answer', async () => {
    const run = await release(null);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/themis: not released: i-0000000000000000a \(not confirmed\)\n$/);
    expect(run.completions).to.deep.equal([]);
  });
});
