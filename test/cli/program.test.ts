import { expect } from 'chai';
import { createHttpProber } from '../../lib/probe.js';
import { silentLog } from '../../lib/log.js';
import type { CliCommand, CliContext, CliPorts } from '../../lib/cli/context.js';
import { COMMANDS } from '../../lib/cli/commands/index.js';
import { runCli } from '../../lib/cli/program.js';
import { awsError, FakeFleet } from '../protect/fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

/** A port whose every method fails the test: proves a command does not use it. */
function unused<T extends object>(): T {
  return new Proxy({} as T, {
    get: (_t, name) => () => Promise.reject(new Error(`unexpected call ${String(name)}`)),
  });
}

describe('cli/program', () => {
  let workers: WorkerSet;
  let fleet: FakeFleet;
  let out: string;
  let err: string;
  let connected: Array<string | undefined>;

  before(async () => {
    workers = await startWorkersOnOnePort([
      ['127.0.6.11', { kind: 'answer', body: 'BUSY' }],
      ['127.0.6.12', { kind: 'answer', body: 'IDLE' }],
    ]);
  });
  after(() => workers.close());

  beforeEach(() => {
    out = '';
    err = '';
    connected = [];
    fleet = new FakeFleet().addGroup(
      'web',
      [
        {
          instanceId: 'i-busy',
          address: '127.0.6.11',
          lifecycleState: 'InService',
          protectedFromScaleIn: false,
        },
        {
          instanceId: 'i-idle',
          address: '127.0.6.12',
          lifecycleState: 'InService',
          protectedFromScaleIn: true,
        },
      ],
      { 'themis:metrics-port': String(workers.port) },
    );
  });

  function context(env: NodeJS.ProcessEnv = { AWS_REGION: 'eu-west-1' }): CliContext {
    return {
      env,
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      prober: createHttpProber({ loopbackOnly: true }),
      log: () => silentLog,
      async connect(region) {
        connected.push(region);
        if (!region) throw new Error('no AWS region: pass --region or set AWS_REGION');
        return {
          region,
          ports: {
            groups: fleet,
            addresses: fleet,
            protection: fleet,
            // status and protect never touch lifecycle hooks (test/cli/gate-commands.test.ts does).
            lifecycle: unused<CliPorts['lifecycle']>(),
            holds: unused<CliPorts['holds']>(),
          },
        };
      },
    };
  }

  const argv = (...args: string[]) => ['node', 'themis', ...args];

  it("takes the port from the group's tag and the region from AWS_REGION", async () => {
    const code = await runCli(argv('protect', '--asg', 'web'), context());
    expect(code).to.equal(0);
    expect(connected).to.deep.equal(['eu-west-1']);
    expect(out).to.match(/^protected +i-busy +\(busy\)$/m);
    expect(out).to.match(/^unprotected +i-idle +\(idle\)$/m);
    expect(fleet.member('web', 'i-busy').protectedFromScaleIn).to.equal(true);
  });

  it('lets --region and --port win over the environment and the tag', async () => {
    const code = await runCli(
      argv('status', '--asg', 'web', '--region', 'ap-south-1', '--port', '1', '--json'),
      context(),
    );
    expect(code).to.equal(0);
    expect(connected).to.deep.equal(['ap-south-1']);
    const rows = JSON.parse(out) as { metricsPort: number; instances: Array<{ probe: string }> };
    expect(rows.metricsPort).to.equal(1);
    expect(rows.instances.map((r) => r.probe)).to.deep.equal(['unknown', 'unknown']);
  });

  it('prints the report and exits 1 with one line when some changes failed', async () => {
    fleet.failProtection = (call) => (call.protect ? awsError('AccessDenied', 'no') : undefined);
    const code = await runCli(argv('protect', '--asg', 'web'), context());
    expect(code).to.equal(1);
    expect(out).to.match(/^FAILED +i-busy +protect: AccessDenied: no$/m);
    expect(err).to.equal('themis: 1 of 2 protection changes failed\n');
  });

  it('refuses a bad themis:* tag with a line naming the tag, changing nothing', async () => {
    fleet.groups.get('web')!.tags['themis:busy-url'] = 'http://elsewhere/';
    const code = await runCli(argv('protect', '--asg', 'web'), context());
    expect(code).to.equal(1);
    expect(err).to.match(/^themis: themis:busy-url: must be a path, not a URL with a scheme\n$/);
    expect(fleet.protectionCalls).to.deep.equal([]);
  });

  it('says how to give a region when there is none', async () => {
    const code = await runCli(argv('status', '--asg', 'web'), context({}));
    expect(code).to.equal(1);
    expect(err).to.equal('themis: no AWS region: pass --region or set AWS_REGION\n');
  });

  it('exits 0 for --help and lists the subcommands', async () => {
    const code = await runCli(argv('--help'), context());
    expect(code).to.equal(0);
    expect(out).to.match(/status \[options\]/);
    expect(out).to.match(/protect \[options\]/);
    expect(out).to.match(/holds \[options\]/);
    expect(out).to.match(/release \[options\]/);
  });

  it('takes a new subcommand from one CliCommand (how `sandbox` plugs in)', async () => {
    const calls: string[] = [];
    const sandbox: CliCommand = {
      register(program, ctx) {
        program
          .command('sandbox')
          .option('--groups <n>')
          .action(async (flags: { groups?: string }) => {
            calls.push(flags.groups ?? '');
            ctx.out('sandbox ran\n');
          });
      },
    };
    const code = await runCli(argv('sandbox', '--groups', '3'), context(), [...COMMANDS, sandbox]);
    expect(code).to.equal(0);
    expect(calls).to.deep.equal(['3']);
    expect(out).to.equal('sandbox ran\n');
  });
});
