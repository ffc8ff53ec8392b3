/**
 * The sandbox's other stories (sim/sandbox-stories.ts), told the way the HTTP one is tested
 * (test/sim/sandbox.test.ts): run fast, read the summary and the printed timeline, and run
 * them through `themis sandbox`.
 */
import { expect } from 'chai';
import type { GateDeps } from '../../lib/gate/step.js';
import type { CliContext } from '../../lib/cli/context.js';
import { runCli } from '../../lib/cli/program.js';
import { silentLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { sandboxCommand } from '../../lib/cli/commands/sandbox.js';
import { runSandbox } from '../../sim/sandbox.js';
import { readFileSync } from 'node:fs';
import {
  ECS_SANDBOX_GROUP,
  S3_LOGS_PREFIX,
  S3_RECIPE_ENV,
  S3_SANDBOX_GROUP,
  S3_SCRIPT_URL,
} from '../../sim/sandbox-stories.js';
import { remoteScriptRunner, RUN_REMOTE_SCRIPT, SimS3 } from '../../sim/remote-script.js';
import { SimAwsError } from '../../sim/aws-error.js';
import { Fleet } from '../../sim/fleet.js';
import { Journal } from '../../sim/journal.js';
import { Random } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { SimCommands } from '../../sim/services.js';

/** docs/s3-script.md's THEMIS_SSM_* lines (as test/s3-script-recipe.test.ts reads them). */
function recipeEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync('docs/s3-script.md', 'utf8').split('\n')) {
    const m = /^(THEMIS_SSM_[A-Z_]+)=(?:'(.*)'|(\S+))$/.exec(line.trim());
    if (m) env[m[1]!] = m[2] ?? m[3]!;
  }
  return env;
}

function cli(): { ctx: CliContext; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    ctx: {
      env: {},
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      prober: createHttpProber({ loopbackOnly: true }),
      log: () => silentLog,
      connect: () => Promise.reject(new Error('the sandbox must not reach AWS')),
    },
    out: () => out,
    err: () => err,
  };
}

describe('sim/sandbox stories', function () {
  this.timeout(120_000);

  describe('--ecs: a cluster scaling in around a long task', () => {
    it('drains and terminates instances one a minute, holds the one with the long task until it ends, kills no task', async () => {
      let printed = '';
      const summary = await runSandbox({
        story: 'ecs',
        fast: true,
        live: false,
        out: (s) => (printed += s),
      });

      expect(summary.exitCode).to.equal(0);
      expect(summary.group).to.equal(ECS_SANDBOX_GROUP);
      // Paced at the default 60 virtual seconds per second, under a minute of wall time.
      expect(summary.virtualMinutes).to.be.at.most(36);
      expect(summary.terminatedWhileBusy).to.deep.equal([]);
      expect(summary.violations).to.deep.equal([]);
      // The scale function took the group to its MinSize (5 → 2), through the gate.
      expect(summary.apiCalls.TerminateInstanceInAutoScalingGroup).to.equal(3);
      expect(summary.apiCalls.UpdateContainerInstancesState).to.be.at.least(3);
      expect(summary.terminations).to.equal(3);
      expect(summary.holds).to.equal(2);
      // No HTTP: ECS answered for every instance.
      expect(summary.workerMode).to.equal(undefined);
      expect(summary.probeRequests).to.equal(0);
      expect(summary.apiCalls.ListTasks).to.be.greaterThan(0);
      expect(summary.storyLines).to.include(
        'tasks killed by a termination: 0 — none, as it must be',
      );
      expect(summary.storyLines).to.include('the 24-minute report ran to its end');

      // The report's instance: drained by the scale function, held, released after it ended,
      // the notice naming the task it waited for.
      const report = /\[(\d\d:\d\d:\d\d)\] ecs +ECS jobs: (i-\w+) DRAINING/g;
      const drained = [...printed.matchAll(report)].map((m) => m[2]!);
      expect(drained).to.have.length(3);
      const ended =
        /\[00:2\d:\d\d\] ecs +ECS jobs: family:job stopped on (i-\w+): essential container exited/.exec(
          printed,
        );
      expect(ended, 'the long job ends in the 25th minute').to.not.equal(null);
      const longOne = ended![1]!;
      const released = summary.notices.find((n) => n.subject.includes(`released ${longOne}`))!;
      expect(released.subject).to.match(/after 2\d min$/);
      expect(released.message).to.match(/waited for 1 task\(s\): family:job t-\d+/);
      expect(printed).to.match(/scale function: drain and terminate i-\w+/);
      expect(printed).to.contain('OK: no busy instance was terminated.');
    });

    it('exits non-zero when a busy instance is terminated (a gate that takes busy for idle)', async () => {
      const lying = (deps: GateDeps): GateDeps => ({
        ...deps,
        ecs: {
          containerInstances: (...a) => deps.ecs!.containerInstances(...a),
          tasks: async () => [],
          services: (...a) => deps.ecs!.services(...a),
          serviceArns: (...a) => deps.ecs!.serviceArns(...a),
          taskReservation: (...a) => deps.ecs!.taskReservation(...a),
          setContainerInstancesState: (...a) => deps.ecs!.setContainerInstancesState(...a),
          setDesiredCount: (...a) => deps.ecs!.setDesiredCount(...a),
        },
      });
      let printed = '';
      const summary = await runSandbox({
        story: 'ecs',
        fast: true,
        live: false,
        wrapGate: lying,
        out: (s) => (printed += s),
      });
      expect(summary.exitCode).to.equal(1);
      expect(summary.terminatedWhileBusy.length).to.be.greaterThan(0);
      expect(summary.storyLines.find((l) => l.startsWith('tasks killed'))).to.not.contain(': 0');
      expect(printed).to.contain('FAILED: see above.');
    });

    it('runs as `themis sandbox --ecs` and exits 0', async () => {
      const { ctx, out, err } = cli();
      const code = await runCli(
        ['node', 'themis', 'sandbox', '--ecs', '--fast', '--timeline'],
        ctx,
        [sandboxCommand],
      );
      expect(err()).to.equal('');
      expect(code).to.equal(0);
      expect(out()).to.contain(
        `An ECS cluster "jobs" on a simulated Auto Scaling group "${ECS_SANDBOX_GROUP}"`,
      );
      expect(out()).to.contain('OK: no busy instance was terminated.');
    });
  });

  describe('--s3-script: a script from S3 before each release (docs/s3-script.md)', () => {
    it("runs the recipe's settings, word for word", () => {
      expect(S3_RECIPE_ENV).to.deep.equal(recipeEnvironment());
    });

    it('runs the script on each idle instance and completes with CONTINUE only after it finished', async () => {
      let printed = '';
      const summary = await runSandbox({
        story: 's3-script',
        fast: true,
        live: false,
        out: (s) => (printed += s),
      });
      expect(summary.exitCode).to.equal(0);
      expect(summary.group).to.equal(S3_SANDBOX_GROUP);
      expect(summary.terminatedWhileBusy).to.deep.equal([]);
      expect(summary.violations).to.deep.equal([]);
      expect(summary.apiCalls.SendCommand).to.equal(4);
      expect(summary.probeRequests).to.be.greaterThan(0);

      // In the timeline: for every released instance, the download, the script's exit 0 and
      // then the gate's release, in that order.
      const lines = printed.split('\n');
      const released = [
        ...printed.matchAll(/gate (i-\w+): release: idle, and AWS-RunRemoteScript succeeded/g),
      ].map((m) => m[1]!);
      expect(released).to.have.length(3);
      for (const id of released) {
        const download = lines.findIndex((l) =>
          l.includes(`${id}: AWS-RunRemoteScript downloaded ${S3_SCRIPT_URL}`),
        );
        const ran = lines.findIndex((l) =>
          l.includes(
            `${id}: pre-termination.sh exited 0: copied /var/log/messages to ${S3_LOGS_PREFIX}${id}-messages.txt`,
          ),
        );
        const release = lines.findIndex((l) => l.includes(`gate ${id}: release:`));
        const terminated = lines.findIndex((l) => l.includes(`${id} terminated (was idle)`));
        expect(download, id).to.be.greaterThan(-1);
        expect(ran, id).to.be.greaterThan(download);
        expect(release, id).to.be.greaterThan(ran);
        expect(terminated, id).to.be.greaterThan(ran);
      }
      expect(
        summary.storyLines.filter((l) => /script ran .* then CONTINUE/.test(l)),
      ).to.have.length(3);
      expect(summary.storyLines.join('\n')).to.not.contain('TOO EARLY');

      // The script deleted from the bucket: the download fails, THEMIS_ON_SSM_FAILURE decides.
      const failed = summary.notices.find((n) =>
        n.subject.includes('pre-termination command failed'),
      )!;
      expect(failed.subject).to.match(/\(CONTINUE\)$/);
      expect(failed.message).to.contain(`could not download ${S3_SCRIPT_URL} (404 Not Found)`);
      expect(printed).to.contain('OK: no busy instance was terminated.');
    });

    it('fails the run when the gate releases before the script has finished', async () => {
      // Broken: the gate reads every command as succeeded the moment it is sent.
      const impatient = (deps: GateDeps): GateDeps => ({
        ...deps,
        commands: {
          documentExists: (...a) => deps.commands!.documentExists(...a),
          isManaged: (...a) => deps.commands!.isManaged(...a),
          send: (...a) => deps.commands!.send(...a),
          status: async () => ({ state: 'success' }),
          cancel: (...a) => deps.commands!.cancel(...a),
        },
      });
      const summary = await runSandbox({
        story: 's3-script',
        fast: true,
        live: false,
        wrapGate: impatient,
        out: () => {},
      });
      expect(summary.exitCode).to.equal(1);
      expect(summary.storyLines.join('\n')).to.contain('TOO EARLY');
    });

    it('runs as `themis sandbox --s3-script` and exits 0; one story at a time', async () => {
      const { ctx, out, err } = cli();
      const code = await runCli(
        ['node', 'themis', 'sandbox', '--s3-script', '--fast', '--timeline'],
        ctx,
        [sandboxCommand],
      );
      expect(err()).to.equal('');
      expect(code).to.equal(0);
      expect(out()).to.contain(`SSM's ${RUN_REMOTE_SCRIPT}`);
      expect(
        await runCli(['node', 'themis', 'sandbox', '--ecs', '--s3-script'], ctx, [sandboxCommand]),
      ).to.equal(1);
      expect(err()).to.equal('themis: --ecs, --s3-script: one story at a time\n');
    });

    it('refuses what SSM refuses: a parameter the document does not declare, an unknown source type', () => {
      const scheduler = new Scheduler();
      const journal = new Journal(scheduler.now);
      const fleet = new Fleet({ scheduler, random: new Random(1), journal });
      fleet.addGroup({ name: 'g', desired: 1 });
      const [inst] = fleet.instances('g');
      const { runner } = remoteScriptRunner({
        s3: new SimS3(scheduler.now),
        scheduler,
        journal,
        fleet,
        logsPrefix: S3_LOGS_PREFIX,
      });
      const commands = new SimCommands(scheduler, new Random(2), fleet, {
        documents: [RUN_REMOTE_SCRIPT],
        runners: { [RUN_REMOTE_SCRIPT]: runner },
      });
      const send = (parameters: Record<string, string[]>) => () =>
        commands.send(inst!.id, RUN_REMOTE_SCRIPT, 900, parameters);
      const base = { sourceInfo: [JSON.stringify({ path: S3_SCRIPT_URL })], commandLine: ['x.sh'] };
      expect(send({ ...base, sourceType: ['S3'], scriptName: ['x'] })).to.throw(
        SimAwsError,
        /scriptName/,
      );
      expect(send({ ...base, sourceType: ['FTP'] })).to.throw(SimAwsError, /sourceType/);
      expect(send({ sourceType: ['S3'], sourceInfo: base.sourceInfo })).to.throw(/commandLine/);
      // An s3:// path is sent, and fails on the instance (the agent wants the https URL).
      const id = send({ ...base, sourceType: ['S3'], sourceInfo: ['{"path":"s3://b/k.sh"}'] })();
      expect(commands.sent.find((c) => c.commandId === id)!.failDetail).to.match(/https/);
    });
  });
});
