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
import { ECS_SANDBOX_GROUP } from '../../sim/sandbox-stories.js';

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
});
