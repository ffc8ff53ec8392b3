/**
 * The simulator run with the numbers serverless.yml deploys: the hook's default
 * HeartbeatTimeout, the gate's recheck interval, the recheck queue's VisibilityTimeout and
 * maxReceiveCount. A gate step that fails (throttled out, SendMessage refused, Lambda
 * killed) is redelivered only after the visibility timeout; if that is longer than what is
 * left of the HeartbeatTimeout, one failure lets Auto Scaling apply the DefaultResult to a
 * busy instance. This test reads the deployed values, so a change to either side is checked.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import YAML from 'yaml';
import { UpstreamError } from '../../lib/errors.js';
import type { LifecycleResult } from '../../lib/ports.js';
import { SimAwsError } from '../../sim/aws-error.js';
import { FAULT_TOLERANCE, checkInvariants } from '../../sim/invariants.js';
import { formatElapsed } from '../../sim/journal.js';
import { Simulation } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';

const MIN = 60_000;

interface DeployedNumbers {
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  recheckSeconds: number;
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
}

function deployedNumbers(): DeployedNumbers {
  const doc = YAML.parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'silent' });
  const params = doc.params.default;
  const queue = doc.resources
    .map((r: { Resources?: Record<string, unknown> }) => r.Resources?.RecheckQueue)
    .find(Boolean) as {
    Properties: { VisibilityTimeout: number; RedrivePolicy: { maxReceiveCount: number } };
  };
  return {
    heartbeatTimeoutSeconds: Number(params.heartbeatTimeout),
    defaultResult: params.hookDefaultResult,
    recheckSeconds: Number(params.recheckSeconds),
    visibilityTimeoutSeconds: Number(queue.Properties.VisibilityTimeout),
    maxReceiveCount: Number(queue.Properties.RedrivePolicy.maxReceiveCount),
  };
}

describe('sim/deployment', () => {
  it('reads the numbers the stack deploys', () => {
    const d = deployedNumbers();
    for (const [k, v] of Object.entries(d)) expect(v, k).to.not.equal(undefined);
    expect(d.heartbeatTimeoutSeconds).to.be.greaterThan(0);
    expect(d.visibilityTimeoutSeconds).to.be.greaterThan(0);
  });

  it(`keeps a busy instance held through ${FAULT_TOLERANCE - 1} failed recheck steps with the deployed defaults`, async () => {
    const d = deployedNumbers();
    let sendMessages = 0;
    const sim = new Simulation({
      seed: 1,
      groups: [
        {
          name: 'web',
          desired: 1,
          hook: {
            name: 'themis',
            heartbeatTimeoutSeconds: d.heartbeatTimeoutSeconds,
            defaultResult: d.defaultResult,
          },
        },
      ],
      // Busy for an hour from launch.
      work: ({ launchedAt }) =>
        new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 60 * MIN }]),
      protect: false,
      gate: {
        env: { THEMIS_RECHECK_SECONDS: String(d.recheckSeconds) },
        visibilityTimeoutSeconds: d.visibilityTimeoutSeconds,
        maxReceiveCount: d.maxReceiveCount,
        // The 2nd and 3rd recheck SendMessage calls fail: two failed steps in a row.
        wrapDeps: (deps) => ({
          ...deps,
          rechecks: {
            async schedule(body, delaySeconds) {
              sendMessages++;
              if (sendMessages === 2 || sendMessages === 3) {
                throw new UpstreamError('SendMessage', {
                  cause: new SimAwsError('InternalError', 'simulated SQS failure', 'server'),
                });
              }
              await deps.rechecks!.schedule(body, delaySeconds);
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
      `With HeartbeatTimeout ${d.heartbeatTimeoutSeconds} s, recheckSeconds ${d.recheckSeconds} and the recheck queue's VisibilityTimeout ${d.visibilityTimeoutSeconds} s, a failed step is retried ${d.visibilityTimeoutSeconds} s later: the hook must outlast the recheck interval plus ${FAULT_TOLERANCE - 1} such delays (${d.recheckSeconds + (FAULT_TOLERANCE - 1) * d.visibilityTimeoutSeconds} s). Lower the VisibilityTimeout or raise the default heartbeatTimeout.\n${timeline}\n`,
    ).to.deep.equal([]);
    expect(sim.fleet.terminations.map((t) => t.busy)).to.deep.equal([false]);
  });
});
