/**
 * The simulator run with the numbers serverless.yml deploys: the hook's default
 * HeartbeatTimeout, the gate's recheck interval, the recheck queue's VisibilityTimeout and
 * maxReceiveCount. A gate step that fails (throttled out, SendMessage refused, Lambda
 * killed) is redelivered only after the visibility timeout; if that is longer than what is
 * left of the HeartbeatTimeout, one failure lets Auto Scaling apply the DefaultResult to a
 * busy instance. This test reads the deployed values, so a change to either side is checked.
 */
import { expect } from 'chai';
import { UpstreamError } from '../../lib/errors.js';
import { FAILED_STEPS_RIDDEN } from '../../lib/gate/budget.js';
import { SimAwsError } from '../../sim/aws-error.js';
import { deployed } from '../../sim/deployed.js';
import { checkInvariants } from '../../sim/invariants.js';
import { formatElapsed } from '../../sim/journal.js';
import { Simulation } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';

const MIN = 60_000;

describe('sim/deployment', () => {
  it(`keeps a busy instance held through ${FAILED_STEPS_RIDDEN} failed recheck steps with the deployed defaults`, async () => {
    const stack = await deployed();
    const d = {
      heartbeatTimeoutSeconds: stack.hook.heartbeatTimeoutSeconds,
      recheckSeconds: Number(stack.gate.env.THEMIS_RECHECK_SECONDS),
      visibilityTimeoutSeconds: stack.recheckQueue.visibilityTimeoutSeconds,
    };
    let sendMessages = 0;
    const sim = new Simulation({
      seed: 1,
      deployed: stack,
      groups: [{ name: 'web', desired: 1, hook: stack.hook }],
      // Busy for an hour from launch.
      work: ({ launchedAt }) =>
        new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 60 * MIN }]),
      protect: false,
      gate: {
        // The 2nd, 3rd, … recheck SendMessage calls fail: FAILED_STEPS_RIDDEN failed steps in a row.
        wrapDeps: (deps) => ({
          ...deps,
          rechecks: {
            async schedule(body, delaySeconds, opts) {
              sendMessages++;
              if (sendMessages >= 2 && sendMessages < 2 + FAILED_STEPS_RIDDEN) {
                throw new UpstreamError('SendMessage', {
                  cause: new SimAwsError('InternalError', 'simulated SQS failure', 'server'),
                });
              }
              await deps.rechecks!.schedule(body, delaySeconds, opts);
            },
          },
        }),
      },
    });
    sim.fleet.scaleIn('web', 1);
    await sim.runUntilSettled(4 * 3600_000);

    const check = checkInvariants(sim);
    const timeline = sim.journal.entries
      .map((e) => `    ${formatElapsed(e.at, sim.scheduler.startMs)}  ${e.text}`)
      .join('\n');
    expect(
      check.violations.map((v) => v.message),
      `With HeartbeatTimeout ${d.heartbeatTimeoutSeconds} s, recheckSeconds ${d.recheckSeconds} and the recheck queue's VisibilityTimeout ${d.visibilityTimeoutSeconds} s, a failed step is retried ${d.visibilityTimeoutSeconds} s later: the hook must outlast the recheck interval plus ${FAILED_STEPS_RIDDEN} such delays (${d.recheckSeconds + FAILED_STEPS_RIDDEN * d.visibilityTimeoutSeconds} s) and the steps themselves. Lower the VisibilityTimeout or raise the default heartbeatTimeout.\n${timeline}\n`,
    ).to.deep.equal([]);
    expect(sim.fleet.terminations.map((t) => t.busy)).to.deep.equal([false]);
  });
});
