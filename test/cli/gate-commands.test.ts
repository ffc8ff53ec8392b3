/**
 * `themis holds` and `themis release` through runCli, with the real SDK adapters over
 * aws-sdk-client-mock (Auto Scaling states moto cannot model: Pending:Wait,
 * Terminating:Wait, retained and warm-pool instances, CompleteLifecycleAction and its "No
 * active Lifecycle Action found") and real loopback workers answering the probes.
 */
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  DescribeScalingActivitiesCommand,
  DescribeWarmPoolCommand,
  type Instance as AsgInstance,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { AutoScalingHolds } from '../../lib/aws/lifecycle-holds.js';
import type { CliContext } from '../../lib/cli/context.js';
import type { HoldRow } from '../../lib/cli/holds.js';
import { runCli } from '../../lib/cli/program.js';
import { silentLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { autoScalingError, sdkGroup } from '../helpers/auto-scaling.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const ID = {
  terminating: 'i-0000000000000000a',
  pending: 'i-0000000000000000b',
  inService: 'i-0000000000000000c',
  retained: 'i-0000000000000000d',
  warm: 'i-0000000000000000e',
};
const ADDRESS: Record<string, string> = {
  [ID.terminating]: '127.0.7.11',
  [ID.pending]: '127.0.7.12',
  [ID.inService]: '127.0.7.13',
};

function asgInstance(InstanceId: string, LifecycleState: string): AsgInstance {
  return {
    InstanceId,
    LifecycleState: LifecycleState as AsgInstance['LifecycleState'],
    AvailabilityZone: 'eu-west-1a',
    HealthStatus: 'Healthy',
    ProtectedFromScaleIn: false,
  };
}

describe('cli gate commands (holds, release)', () => {
  let workers: WorkerSet;
  let asg: AwsClientStub<AutoScalingClient>;
  let ec2: AwsClientStub<EC2Client>;
  let out: string;
  let err: string;
  let questions: string[];

  before(async () => {
    workers = await startWorkersOnOnePort([
      [ADDRESS[ID.terminating]!, { kind: 'answer', body: 'BUSY' }],
      [ADDRESS[ID.pending]!, { kind: 'answer', body: 'IDLE' }],
      [ADDRESS[ID.inService]!, { kind: 'answer', body: 'BUSY' }],
    ]);
  });
  after(() => workers.close());

  beforeEach(() => {
    out = '';
    err = '';
    questions = [];
    asg = mockClient(AutoScalingClient);
    ec2 = mockClient(EC2Client);
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        sdkGroup('workers', {
          Instances: [
            asgInstance(ID.terminating, 'Terminating:Wait'),
            asgInstance(ID.pending, 'Pending:Wait'),
            asgInstance(ID.inService, 'InService'),
            asgInstance(ID.retained, 'Terminating:Retained'),
          ],
          Tags: [
            {
              Key: 'themis:metrics-port',
              Value: String(workers.port),
              ResourceId: 'workers',
              ResourceType: 'auto-scaling-group',
              PropagateAtLaunch: false,
            },
          ],
        }),
      ],
    });
    asg.on(DescribeWarmPoolCommand).resolves({
      Instances: [asgInstance(ID.warm, 'Warmed:Terminating:Wait')],
    });
    asg.on(DescribeLifecycleHooksCommand).resolves({
      LifecycleHooks: [
        {
          LifecycleHookName: 'drain',
          AutoScalingGroupName: 'workers',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 600,
          GlobalTimeout: 60_000,
          DefaultResult: 'CONTINUE',
        },
        {
          LifecycleHookName: 'warmup',
          AutoScalingGroupName: 'workers',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          HeartbeatTimeout: 300,
          GlobalTimeout: 30_000,
          DefaultResult: 'ABANDON',
        },
      ],
    });
    asg.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [
        {
          ActivityId: 'a1',
          AutoScalingGroupName: 'workers',
          Cause: 'scale-in',
          Description: `Terminating EC2 instance: ${ID.terminating}`,
          StatusCode: 'MidLifecycleAction',
          StartTime: new Date(NOW - 125_000),
        },
      ],
    });
    asg.on(CompleteLifecycleActionCommand).resolves({});
    ec2
      .on(DescribeInstancesCommand)
      .callsFake(async (input: { Filters?: Array<{ Values?: string[] }> }) => ({
        Reservations: [
          {
            Instances: (input.Filters?.[0]?.Values ?? [])
              .filter((id) => ADDRESS[id])
              .map((id) => ({ InstanceId: id, PrivateIpAddress: ADDRESS[id] })),
          },
        ],
      }));
  });
  afterEach(() => {
    asg.restore();
    ec2.restore();
  });

  function context(answer?: string | undefined, canAsk = true): CliContext {
    const client = new AutoScalingClient({ region: 'eu-west-1' });
    const autoScaling = new AutoScalingAdapter(client);
    return {
      env: { AWS_REGION: 'eu-west-1' },
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      prober: createHttpProber({ loopbackOnly: true }),
      log: () => silentLog,
      clock: () => NOW,
      async connect(region) {
        return {
          region: region!,
          ports: {
            groups: autoScaling,
            protection: autoScaling,
            lifecycle: autoScaling,
            holds: new AutoScalingHolds(client),
            addresses: new Ec2Addresses(new EC2Client({ region: 'eu-west-1' })),
          },
        };
      },
      ...(canAsk
        ? {
            prompt: async (question: string) => {
              questions.push(question);
              return answer;
            },
          }
        : {}),
    };
  }

  const argv = (...args: string[]) => ['node', 'themis', ...args];
  const completions = () =>
    asg.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input);

  describe('holds', () => {
    it('lists waiting and retained instances with their wait, probe answer now and hook deadline', async () => {
      const code = await runCli(argv('holds', '--asg', 'workers', '--json'), context());
      expect(err).to.equal('');
      expect(code).to.equal(0);
      const result = JSON.parse(out) as {
        instances: HoldRow[];
        hooks: Array<{ hookName: string }>;
      };
      const rows = Object.fromEntries(result.instances.map((r) => [r.instanceId, r]));
      expect(Object.keys(rows)).to.deep.equal([ID.terminating, ID.pending, ID.retained, ID.warm]);
      expect(rows[ID.terminating]).to.include({
        lifecycleState: 'Terminating:Wait',
        waitedSeconds: 125,
        probe: 'busy',
        address: ADDRESS[ID.terminating],
      });
      expect(rows[ID.terminating]!.hooks).to.deep.equal([
        {
          hookName: 'drain',
          heartbeatTimeoutSeconds: 600,
          globalTimeoutSeconds: 60_000,
          defaultResult: 'CONTINUE',
          globalDeadline: new Date(NOW - 125_000 + 60_000_000).toISOString(),
          secondsLeft: 60_000 - 125,
        },
      ]);
      // No activity names it: the start is unknown, and so is the global deadline.
      expect(rows[ID.pending]).to.include({
        waitedSeconds: null,
        waitingSince: null,
        probe: 'idle',
      });
      expect(rows[ID.pending]!.hooks.map((h) => [h.hookName, h.globalDeadline])).to.deep.equal([
        ['warmup', null],
      ]);
      expect(rows[ID.retained]).to.include({ hold: 'retained' });
      expect(rows[ID.warm]).to.include({
        lifecycleState: 'Warmed:Terminating:Wait',
        probe: 'skipped',
      });
      expect(result.hooks.map((h) => h.hookName)).to.deep.equal(['drain', 'warmup']);
      // Only held instances are probed; the InService one is not.
      expect(workers.byAddress.get(ADDRESS[ID.inService]!)!.requests).to.deep.equal([]);
      expect(asg.commandCalls(CompleteLifecycleActionCommand)).to.have.length(0);
    });

    it('prints a table saying "unknown" when a wait has no known start', async () => {
      const code = await runCli(argv('holds', '--asg', 'workers'), context());
      expect(code).to.equal(0);
      const row = (id: string) => out.split('\n').find((l) => l.includes(id)) ?? '';
      expect(row(ID.terminating)).to.match(
        /Terminating:Wait +│ 2m05s +│ busy +│ drain: heartbeat 600 s; ends by 2026-11-27 04:37:55Z \(in 16h37m\) → CONTINUE/,
      );
      expect(row(ID.pending)).to.match(
        /Pending:Wait +│ unknown +│ idle +│ warmup: heartbeat 300 s; global 8h20m from an unknown start → ABANDON/,
      );
      // A retained instance has no hook deadline: the row says what keeps it instead.
      expect(row(ID.retained)).to.match(/Terminating:Ret\S* +│ retained \(since unknown\) +│/);
      expect(row(ID.retained)).to.match(/│ kept until idle: protect terminates it/);
      expect(row(ID.retained)).not.to.match(/drain|heartbeat|deadline passed|ends by/);
      expect(out).to.include('workers (eu-west-1): 3 waiting, 1 retained');
      expect(out).to.match(
        /^hooks: drain \(TERMINATING\): heartbeat 600 s, global 16h40m, default CONTINUE; warmup \(LAUNCHING\)/m,
      );
    });

    it('shows a retained instance with no hook deadline: its state, since when its termination began, kept until idle', async () => {
      // The termination that ended in retention began 3 days ago — past any hook's 48 h
      // global timeout, so a deadline computed from it would read "passed", which is false.
      asg.on(DescribeWarmPoolCommand).resolves({
        Instances: [asgInstance(ID.warm, 'Warmed:Pending:Retained')],
      });
      asg.on(DescribeScalingActivitiesCommand).resolves({
        Activities: [
          {
            ActivityId: 'a2',
            AutoScalingGroupName: 'workers',
            Cause: 'scale-in',
            Description: `Terminating EC2 instance: ${ID.retained}`,
            StatusCode: 'MidLifecycleAction',
            StartTime: new Date(NOW - 3 * 86_400_000),
          },
        ],
      });
      const code = await runCli(argv('holds', '--asg', 'workers', '--json'), context());
      expect(code).to.equal(0);
      const rows = Object.fromEntries(
        (JSON.parse(out) as { instances: HoldRow[] }).instances.map((r) => [r.instanceId, r]),
      );
      expect(rows[ID.retained]).to.deep.include({
        lifecycleState: 'Terminating:Retained',
        hold: 'retained',
        waitingSince: null,
        waitedSeconds: null,
        hooks: [],
      });
      expect(rows[ID.retained]!.retention).to.deep.equal({
        terminationStarted: new Date(NOW - 3 * 86_400_000).toISOString(),
        terminationSeconds: 3 * 86_400,
        endedBy: 'themis-once-idle',
        keptUntil:
          'kept until idle: protect terminates it (TerminateInstanceInAutoScalingGroup) once it answers IDLE; no hook deadline',
      });
      // The warm pool's retained states are retained too; themis never ends them.
      expect(rows[ID.warm]).to.deep.include({ hold: 'retained', hooks: [] });
      expect(rows[ID.warm]!.retention).to.include({
        endedBy: 'operator',
        terminationStarted: null,
      });
      expect(rows[ID.warm]!.retention!.keptUntil).to.match(
        /^kept until an operator terminates it: Warmed:Pending:Retained is a warm-pool state/,
      );
      // A waiting row keeps its hook deadline.
      expect(rows[ID.terminating]!.hooks.map((h) => h.hookName)).to.deep.equal(['drain']);

      out = '';
      expect(await runCli(argv('holds', '--asg', 'workers'), context())).to.equal(0);
      const row = (id: string) => out.split('\n').find((l) => l.includes(id)) ?? '';
      expect(row(ID.retained)).to.match(
        /│ retained; termination began 2026-11-23 12:00:00Z \(72h00m ago\) │/,
      );
      expect(row(ID.retained)).to.match(/│ kept until idle: protect terminates it/);
      expect(row(ID.retained)).not.to.match(/deadline passed|heartbeat/);
      expect(row(ID.warm)).to.match(/│ retained \(since unknown\) +│/);
      expect(out).to.include('workers (eu-west-1): 2 waiting, 2 retained');
    });

    it('says no instance is held when none waits, without reading activities or addresses', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          sdkGroup('workers', { Instances: [asgInstance(ID.inService, 'InService')] }),
        ],
      });
      asg.on(DescribeWarmPoolCommand).resolves({});
      const code = await runCli(argv('holds', '--asg', 'workers'), context());
      expect(code).to.equal(0);
      expect(out).to.include('workers (eu-west-1): no instance is held by a lifecycle hook\n');
      expect(asg.commandCalls(DescribeScalingActivitiesCommand)).to.have.length(0);
      expect(ec2.commandCalls(DescribeInstancesCommand)).to.have.length(0);
    });

    it('stops with the loopback guard line before probing a held instance off loopback', async () => {
      // 255.255.255.255: the kernel refuses TCP to it, so even a broken guard reaches nobody.
      ADDRESS[ID.pending] = '255.255.255.255';
      try {
        const code = await runCli(argv('holds', '--asg', 'workers'), context());
        expect(code).to.equal(1);
        expect(err).to.equal(
          'themis: refusing to probe 255.255.255.255: only 127.0.0.0/8 is allowed (THEMIS_LOOPBACK_ONLY)\n',
        );
        expect(out).to.equal('');
      } finally {
        ADDRESS[ID.pending] = '127.0.7.12';
      }
    });

    it('fails with one line when the hooks cannot be read', async () => {
      asg
        .on(DescribeLifecycleHooksCommand)
        .rejects(autoScalingError('AccessDenied', 'not allowed'));
      const code = await runCli(argv('holds', '--asg', 'workers'), context());
      expect(code).to.equal(1);
      expect(err).to.equal(
        'themis: DescribeLifecycleHooks workers failed: AccessDenied: not allowed\n',
      );
    });
  });

  describe('release', () => {
    it('completes the action by instance id with CONTINUE when --yes is given', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating, '--yes'),
        context(),
      );
      expect(err).to.equal('');
      expect(code).to.equal(0);
      expect(questions).to.deep.equal([]);
      expect(completions()).to.deep.equal([
        {
          AutoScalingGroupName: 'workers',
          LifecycleHookName: 'drain',
          LifecycleActionResult: 'CONTINUE',
          InstanceId: ID.terminating,
        },
      ]);
      expect(out).to.equal(
        `released ${ID.terminating} from hook drain of workers (CONTINUE): Auto Scaling terminates it\n`,
      );
    });

    it('completes with ABANDON when asked, and says so in JSON', async () => {
      const code = await runCli(
        argv(
          'release',
          '--asg',
          'workers',
          '--instance',
          ID.pending,
          '--abandon',
          '--yes',
          '--json',
        ),
        context(),
      );
      expect(code).to.equal(0);
      expect(completions()).to.deep.equal([
        {
          AutoScalingGroupName: 'workers',
          LifecycleHookName: 'warmup',
          LifecycleActionResult: 'ABANDON',
          InstanceId: ID.pending,
        },
      ]);
      expect(JSON.parse(out)).to.deep.equal({
        asgName: 'workers',
        region: 'eu-west-1',
        instanceId: ID.pending,
        hookName: 'warmup',
        result: 'ABANDON',
        outcome: 'completed',
        consequence: 'Auto Scaling terminates it',
      });
    });

    it('says that an ABANDON keeps the instance in Terminating:Retained on a group that retains', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          sdkGroup('workers', {
            Instances: [asgInstance(ID.terminating, 'Terminating:Wait')],
            InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'retain' } },
          }),
        ],
      });
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating, '--abandon'),
        context('y'),
      );
      expect(code).to.equal(0);
      expect(questions).to.have.length(1);
      const kept =
        "Auto Scaling keeps it running in Terminating:Retained (the group retains abandoned instances), outside the desired capacity, until TerminateInstanceInAutoScalingGroup is called for it (themis's protect calls it once the instance answers IDLE)";
      expect(questions[0]).to.equal(
        `Complete the lifecycle action of ${ID.terminating} (Terminating:Wait, hook drain) in workers with ABANDON? Then ${kept}. [y/N] `,
      );
      expect(questions[0]).not.to.include('terminates it,');
      expect(out).to.equal(
        `released ${ID.terminating} from hook drain of workers (ABANDON): ${kept}\n`,
      );
      expect(completions()[0]).to.include({ LifecycleActionResult: 'ABANDON' });
    });

    it('says that an ABANDON terminates the instance on a group that does not retain', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating, '--abandon', '--yes'),
        context(),
      );
      expect(code).to.equal(0);
      expect(out).to.equal(
        `released ${ID.terminating} from hook drain of workers (ABANDON): Auto Scaling terminates it, skipping the remaining terminate hooks\n`,
      );
    });

    it('says that an ABANDON of a warm-pool termination keeps it in Warmed:Terminating:Retained on a retaining group', async () => {
      asg.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          sdkGroup('workers', {
            InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'retain' } },
          }),
        ],
      });
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.warm, '--abandon', '--yes'),
        context(),
      );
      expect(code).to.equal(0);
      expect(out).to.match(
        /\(ABANDON\): Auto Scaling keeps it running in Warmed:Terminating:Retained .* \(by an operator: themis does not end warm-pool retained instances\)\n$/,
      );
    });

    it('asks first and completes once the operator answers yes', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating),
        context('y'),
      );
      expect(code).to.equal(0);
      expect(questions).to.deep.equal([
        `Complete the lifecycle action of ${ID.terminating} (Terminating:Wait, hook drain) in workers with CONTINUE? Then Auto Scaling terminates it. [y/N] `,
      ]);
      expect(completions()).to.have.length(1);
    });

    for (const answer of ['n', '', 'yess', undefined]) {
      it(`changes nothing when the answer is ${JSON.stringify(answer)}`, async () => {
        const code = await runCli(
          argv('release', '--asg', 'workers', '--instance', ID.terminating),
          context(answer),
        );
        expect(code).to.equal(1);
        expect(err).to.equal(`themis: not released: ${ID.terminating} (not confirmed)\n`);
        expect(completions()).to.deep.equal([]);
      });
    }

    it('requires --yes where it cannot ask', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating),
        context(undefined, false),
      );
      expect(code).to.equal(1);
      expect(err).to.equal('themis: cannot ask for confirmation here: pass --yes\n');
      expect(completions()).to.deep.equal([]);
    });

    it('prints one clear line when the instance has no active lifecycle action any more', async () => {
      asg
        .on(CompleteLifecycleActionCommand)
        .rejects(
          autoScalingError(
            'ValidationError',
            `No active Lifecycle Action found with instance ID ${ID.terminating}`,
          ),
        );
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.terminating, '--yes'),
        context(),
      );
      expect(code).to.equal(1);
      expect(out).to.equal('');
      expect(err).to.equal(
        `themis: No active Lifecycle Action found for ${ID.terminating} in hook drain of workers: it has already ended (completed elsewhere or timed out); nothing released\n`,
      );
    });

    it('refuses an instance that is not waiting, before asking or completing', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.inService),
        context('y'),
      );
      expect(code).to.equal(1);
      expect(err).to.equal(
        `themis: ${ID.inService} is InService, not waiting in a lifecycle hook: nothing to release\n`,
      );
      expect(questions).to.deep.equal([]);
      expect(completions()).to.deep.equal([]);
    });

    it('refuses a retained instance: its action has already ended', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.retained, '--yes'),
        context(),
      );
      expect(code).to.equal(1);
      expect(err).to.match(/is Terminating:Retained: its lifecycle action has already ended/);
      expect(completions()).to.deep.equal([]);
    });

    it('releases a warm-pool instance from its terminate hook', async () => {
      const code = await runCli(
        argv('release', '--asg', 'workers', '--instance', ID.warm, '--yes'),
        context(),
      );
      expect(code).to.equal(0);
      expect(completions()[0]).to.include({ InstanceId: ID.warm, LifecycleHookName: 'drain' });
    });

    const refusals: Array<[string, string[], string]> = [
      [
        'a malformed instance id',
        ['--instance', 'web-1'],
        'themis: --instance: must be an instance id such as i-0123456789abcdef0\n',
      ],
      [
        'an instance not in the group',
        ['--instance', 'i-0123456789abcdef0'],
        'themis: i-0123456789abcdef0 is not in group workers or its warm pool\n',
      ],
      [
        'a hook the group does not have',
        ['--instance', ID.terminating, '--hook', 'drian'],
        'themis: group workers has no lifecycle hook named "drian"\n',
      ],
    ];
    for (const [what, args, line] of refusals) {
      it(`refuses ${what} with one line, completing nothing`, async () => {
        const code = await runCli(argv('release', '--asg', 'workers', '--yes', ...args), context());
        expect(code).to.equal(1);
        expect(err).to.equal(line);
        expect(completions()).to.deep.equal([]);
      });
    }
  });
});
