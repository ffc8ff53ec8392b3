/**
 * The `themis` command as operators run it: the JavaScript scripts/build-cli.ts builds (what
 * the package ships), run by plain `node` in a subprocess, with AWS_ENDPOINT_URL pointing at
 * moto_server and workers on the fleet's 127.0.1.x addresses. (test/cli/pack.test.ts runs it
 * from a global install of the packed tarball.)
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  EnterStandbyCommand,
  PutLifecycleHookCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildCli } from '../../scripts/build-cli.js';
import { createLoopbackFleet, startMoto, type Moto, type MotoFleet } from '../helpers/moto.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import type { StatusRow } from '../../lib/cli/format.js';
import type { GroupReport } from '../../lib/protect/scan.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('themis CLI (subprocess, moto) @slow', function () {
  let moto: Moto;
  let asg: AutoScalingClient;
  let fleet: MotoFleet;
  let workers: WorkerSet;
  let ids: { busy: string; idle: string; hang: string; standby: string };

  function themis(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(built, 'themis.js'), ...args],
        {
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            AWS_ENDPOINT_URL: moto.endpoint,
            AWS_REGION: moto.region,
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            THEMIS_LOOPBACK_ONLY: '1',
            // No NODE_NO_WARNINGS: the CLI itself must keep stderr to the one line that matters.
          },
        },
        (err, stdout, stderr) => {
          const code = err ? ((err as { code?: number }).code ?? 1) : 0;
          resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
        },
      );
    });
  }

  /** The group under test, its workers' port and a short probe timeout. */
  function fleetArgs(): string[] {
    return ['--asg', 'cli', '--port', String(workers.port), '--timeout-ms', '300'];
  }

  async function protection(): Promise<Map<string, boolean>> {
    const out = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['cli'] }),
    );
    return new Map(
      (out.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => [
        i.InstanceId!,
        i.ProtectedFromScaleIn ?? false,
      ]),
    );
  }

  // Inside the repository, so the bundle's packages resolve from its node_modules.
  const built = join('.build', `cli-test-${process.pid}`);

  before(async () => {
    await buildCli(built);
    moto = await startMoto();
    asg = new AutoScalingClient(moto.clientConfig);
    fleet = await createLoopbackFleet(moto, { groupName: 'cli', size: 4 });
    const [busy, idle, hang, standby] = fleet.instanceIds as [string, string, string, string];
    ids = { busy, idle, hang, standby };
    workers = await startWorkersOnOnePort([
      [fleet.addresses.get(busy)!, { kind: 'answer', body: 'BUSY' }],
      [fleet.addresses.get(idle)!, { kind: 'answer', body: 'IDLE' }],
      [fleet.addresses.get(hang)!, { kind: 'hang' }],
      [fleet.addresses.get(standby)!, { kind: 'answer', body: 'BUSY' }],
    ]);
    await asg.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: 'cli',
        InstanceIds: [idle],
        ProtectedFromScaleIn: true,
      }),
    );
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: 'cli',
        LifecycleHookName: 'drain',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 300,
        DefaultResult: 'CONTINUE',
      }),
    );
    await asg.send(
      new EnterStandbyCommand({
        AutoScalingGroupName: 'cli',
        InstanceIds: [standby],
        ShouldDecrementDesiredCapacity: true,
      }),
    );
  });
  after(async () => {
    await workers?.close();
    asg?.destroy();
    await moto?.stop();
    rmSync(built, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const w of workers.byAddress.values()) w.requests.length = 0;
  });

  it('status --json lists every instance with its state, protection and probe answer', async () => {
    const run = await themis('status', ...fleetArgs(), '--json');
    expect(run.stderr).to.equal('');
    expect(run.code).to.equal(0);
    const out = JSON.parse(run.stdout) as { asgName: string; instances: StatusRow[] };
    expect(out.asgName).to.equal('cli');
    const rows = Object.fromEntries(out.instances.map((r) => [r.instanceId, r]));
    expect(rows[ids.busy]).to.include({
      probe: 'busy',
      protected: false,
      lifecycleState: 'InService',
    });
    expect(rows[ids.idle]).to.include({ probe: 'idle', protected: true });
    expect(rows[ids.hang]).to.include({ probe: 'unknown' });
    expect(rows[ids.hang]!.reason).to.match(/timeout after 300 ms/);
    expect(rows[ids.standby]).to.include({ probe: 'skipped', lifecycleState: 'Standby' });
    expect(rows[ids.busy]!.availabilityZone).to.equal('us-east-1a');
    expect(rows[ids.busy]!.latencyMs).to.be.a('number');
    for (const r of out.instances)
      if (r.address) expect(isLoopbackAddress(r.address)).to.equal(true);
    // status never changes protection
    const after = await protection();
    expect(after.get(ids.busy)).to.equal(false);
    expect(after.get(ids.idle)).to.equal(true);
    expect(workers.byAddress.get(fleet.addresses.get(ids.standby)!)!.requests).to.deep.equal([]);
  });

  it('status prints a table with one row per instance and a summary', async () => {
    const run = await themis('status', ...fleetArgs());
    expect(run.code).to.equal(0);
    const lines = run.stdout.split('\n');
    const header = lines.find((l) => l.includes('Instance'))!;
    for (const col of ['Instance', 'AZ', 'Lifecycle state', 'Protected', 'Probe', 'Latency']) {
      expect(header).to.include(col);
    }
    const row = (id: string) => lines.find((l) => l.includes(id)) ?? '';
    expect(row(ids.busy)).to.match(/InService.*│ no .*│ busy .*│ \d+ ms/);
    expect(row(ids.idle)).to.match(/│ yes .*│ idle /);
    expect(row(ids.standby)).to.match(/Standby.*skipped: not InService \(Standby\)/);
    expect(run.stdout).to.include('cli (us-east-1): 1 busy, 1 idle, 1 unknown, 1 skipped');
  });

  it('protect --dry-run prints the plan and changes nothing; protect then makes the changes', async () => {
    const common = fleetArgs();
    const dry = await themis('protect', ...common, '--dry-run');
    expect(dry.code).to.equal(0);
    expect(dry.stdout).to.include('dry run, nothing changed');
    expect(dry.stdout).to.match(new RegExp(`would protect +${ids.busy}`));
    expect(dry.stdout).to.match(new RegExp(`would unprotect +${ids.idle}`));
    let state = await protection();
    expect([state.get(ids.busy), state.get(ids.idle)]).to.deep.equal([false, true]);

    const run = await themis('protect', ...common, '--json');
    expect(run.code).to.equal(0);
    const report = JSON.parse(run.stdout) as GroupReport;
    expect(report.protected).to.deep.equal([ids.busy]);
    expect(report.unprotected).to.deep.equal([ids.idle]);
    state = await protection();
    expect([state.get(ids.busy), state.get(ids.idle), state.get(ids.hang)]).to.deep.equal([
      true,
      false,
      false,
    ]);

    const again = await themis('protect', ...common);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.include('nothing to change');
  });

  // moto models lifecycle hooks (Put/DescribeLifecycleHooks) and warm pools, but never holds
  // an instance in Pending:Wait or Terminating:Wait, keeps no scaling activities and does not
  // implement CompleteLifecycleAction. So over the wire: the hooks as listed, no holds, and
  // release refusing an instance that is not waiting. The held states, the wait, the probe of
  // a held instance and CompleteLifecycleAction (with its "No active Lifecycle Action found")
  // are covered with aws-sdk-client-mock in test/cli/gate-commands.test.ts and
  // test/cli/release-stdin.test.ts.
  it("holds --json lists the group's hooks and no held instance (moto holds none)", async () => {
    const run = await themis('holds', ...fleetArgs(), '--json');
    expect(run.stderr).to.equal('');
    expect(run.code).to.equal(0);
    const out = JSON.parse(run.stdout) as {
      asgName: string;
      instances: unknown[];
      hooks: Array<Record<string, unknown>>;
    };
    expect(out.asgName).to.equal('cli');
    expect(out.instances).to.deep.equal([]);
    expect(out.hooks).to.deep.equal([
      {
        hookName: 'drain',
        groupName: 'cli',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        // moto reports 172800; the adapter keeps AWS's min(48 h, 100 × heartbeat).
        globalTimeoutSeconds: 30_000,
        defaultResult: 'CONTINUE',
      },
    ]);
    const table = await themis('holds', ...fleetArgs());
    expect(table.stdout).to.equal(
      'cli (us-east-1): no instance is held by a lifecycle hook\n' +
        'hooks: drain (TERMINATING): heartbeat 300 s, global 8h20m, default CONTINUE\n',
    );
  });

  it('release refuses an InService instance with one line, before any CompleteLifecycleAction', async () => {
    const run = await themis('release', '--asg', 'cli', '--instance', ids.busy, '--yes');
    expect(run.code).to.equal(1);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.equal(
      `themis: ${ids.busy} is InService, not waiting in a lifecycle hook: nothing to release\n`,
    );
  });

  const errors: Array<[string, string[], RegExp]> = [
    [
      'a group that does not exist',
      ['status', '--asg', 'missing'],
      /^themis: Auto Scaling group "missing" not found in us-east-1$/,
    ],
    [
      'a bad port',
      ['status', '--asg', 'cli', '--port', 'abc'],
      /^themis: --port: must be a whole number$/,
    ],
    ['a bad region', ['protect', '--asg', 'cli', '--region', 'moon'], /^themis: --region: /],
    ['a missing --asg', ['status'], /^error: required option '--asg <name>' not specified$/],
    ['an unknown subcommand', ['frobnicate'], /^error: unknown command 'frobnicate'$/],
  ];
  for (const [what, args, line] of errors) {
    it(`prints one line on stderr and exits non-zero for ${what}`, async () => {
      const run = await themis(...args);
      expect(run.code).to.not.equal(0);
      expect(run.stdout).to.equal('');
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines).to.have.length(1, run.stderr);
      expect(lines[0]).to.match(line);
    });
  }

  it('shows the stack trace only with --debug', async () => {
    const run = await themis('--debug', 'status', '--asg', 'missing');
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^themis: Auto Scaling group "missing" not found/m);
    // --debug also logs the decisions as JSON lines
    expect(run.stderr).to.match(/^\{"level":"error","message":"group not found"/m);
    expect(run.stderr).to.match(/\n\s+at /);
  });
});
