/**
 * Simulated histories with launch hooks and warm pools (issue 14, parts 2–3): the real gate
 * and protect code, the real SDK adapters, the deploy's own stack (launchHooks=true), on the
 * fleet simulator's model of Pending:Wait, Warmed:Pending:Wait and ReuseOnScaleIn.
 *
 * Each seed draws a group (with or without a warm pool that takes instances back on
 * scale-in), work schedules, how long each new or restarted worker takes to come up (some
 * never do, until the last minutes), and scale-outs and scale-ins. The properties of the
 * simulator issue must hold (checkInvariants: a busy instance is neither terminated nor
 * stopped in the warm pool, every action ends with an outcome notice, no heartbeat gap, …),
 * and two of the launch gate's own:
 *   launch-ready    a launch is let go on (CONTINUE) only once its worker answers;
 *   launch-decided  a launch whose worker never answered is abandoned by the gate (ABANDON by
 *                   CompleteLifecycleAction), not left to the hook's timeout.
 */
import { expect } from 'chai';
import { LAUNCH_GATE_TAG } from '../../lib/gate/launch.js';
import type { GateDeps } from '../../lib/gate/step.js';
import type { Prober } from '../../lib/ports.js';
import { deployed } from '../../sim/deployed.js';
import { checkInvariants } from '../../sim/invariants.js';
import { Random } from '../../sim/random.js';
import { DEFAULT_START_MS } from '../../sim/scheduler.js';
import { SIM_TOPIC_ARN, Simulation } from '../../sim/simulation.js';
import { randomWork } from '../../sim/work.js';

const MINUTE = 60_000;
const HISTORIES = Number(process.env.THEMIS_LAUNCH_HISTORIES ?? 150);
const LAUNCH_HOOK = 'themis-launch';

interface Run {
  seed: number;
  warmPool: boolean;
  violations: string[];
  launches: number;
  abandoned: number;
  returnedToPool: number;
  leftPool: number;
  notices: string[];
}

async function runLaunchHistory(
  seed: number,
  wrapDeps?: (deps: GateDeps) => GateDeps,
): Promise<Run> {
  const random = new Random(seed);
  const start = DEFAULT_START_MS;
  const d = await deployed({ groups: 'workers', launchHooks: 'true', recheckSeconds: '10' });
  const warmPool = random.chance(0.5);
  const hook = {
    name: d.hook.name,
    heartbeatTimeoutSeconds: d.hook.heartbeatTimeoutSeconds,
    defaultResult: d.hook.defaultResult,
  };
  const sim = new Simulation({
    seed,
    deployed: d,
    startMs: start,
    groups: [
      {
        name: 'workers',
        desired: random.int(1, 3),
        hook,
        // As deploy/stack.cjs installs it (test/deploy-launch-hooks.test.ts).
        launchHook: { ...hook, name: LAUNCH_HOOK, defaultResult: 'CONTINUE' },
        tags: { [LAUNCH_GATE_TAG]: 'true' },
        ...(warmPool ? { warmPool: { reuseOnScaleIn: true, size: random.int(0, 2) } } : {}),
      },
    ],
    work: ({ random: r, launchedAt }) =>
      randomWork(r, {
        fromMs: launchedAt,
        untilMs: start + 40 * MINUTE,
        minUnitMs: 30_000,
        maxUnitMs: 6 * MINUTE,
        minGapMs: 10_000,
        maxGapMs: 4 * MINUTE,
        busyAtStart: 0.5,
      }),
    fleet: {
      // A fifth of the workers launched in the first 40 minutes never come up (a broken
      // image); later ones do, so that every replacement loop ends.
      readiness: ({ random: r, launchedAt }) =>
        launchedAt < start + 40 * MINUTE && r.chance(0.2) ? Infinity : r.int(0, 240),
    },
    // protect's topic as the gate's (the deployed value is a CloudFormation Ref).
    protect: { env: { THEMIS_TOPIC_ARN: SIM_TOPIC_ARN } },
    gate: {
      env: { THEMIS_LAUNCH_MAX_WAIT_SECONDS: '600' },
      ...(wrapDeps ? { wrapDeps: (deps) => wrapDeps(deps) } : {}),
    },
  });
  for (let t = 2; t < 30; t += random.int(2, 6)) {
    const out = random.chance(0.55);
    sim.scheduler.at(start + t * MINUTE, 'scale', () => {
      const now = sim.fleet.desiredCapacity('workers');
      sim.fleet.setDesiredCapacity('workers', out ? Math.min(now + 1, 4) : Math.max(now - 1, 0));
    });
  }
  sim.startProtect();
  await sim.runUntil(start + 45 * MINUTE);
  sim.stopProtect();
  await sim.runUntilSettled(6 * 3600_000);

  const violations = checkInvariants(sim).violations.map((v) => `${v.kind}: ${v.message}`);
  for (const end of sim.fleet.launchEnds) {
    const ended = end.action.ended!;
    if (ended.result === 'CONTINUE' && !end.ready) {
      violations.push(
        `launch-ready: ${end.instanceId} was let go on (${ended.by}, CONTINUE) before its worker answered`,
      );
    }
    if (!end.ready && ended.by !== 'completed') {
      violations.push(
        `launch-decided: ${end.instanceId}'s launch ended by ${ended.by} (${ended.result}), not by the gate`,
      );
    }
  }
  const launchActions = sim.fleet.actions.filter((a) => a.transition !== undefined);
  return {
    seed,
    warmPool,
    violations,
    launches: launchActions.length,
    abandoned: sim.fleet.launchEnds.filter((e) => e.action.ended?.result === 'ABANDON').length,
    returnedToPool: sim.fleet.terminations.filter((t) => t.passage === 'return-to-pool').length,
    leftPool: launchActions.filter((a) => a.passage === 'leave-pool').length,
    notices: sim.published.map((p) => p.notice.subject),
  };
}

describe('sim: launch hooks and warm pools', function () {
  this.timeout(0);
  const runs: Run[] = [];

  before(async () => {
    for (let seed = 1; seed <= HISTORIES; seed++) runs.push(await runLaunchHistory(seed));
  });

  it('holds every property in every history', () => {
    const failing = runs.filter((r) => r.violations.length);
    expect(
      failing.map((r) => `seed ${r.seed}: ${r.violations.join('; ')}`),
      `${failing.length} of ${runs.length} histories`,
    ).to.deep.equal([]);
  });

  it('plays what it claims: launches held and abandoned, returns to and restarts from the pool', () => {
    const sum = (f: (r: Run) => number) => runs.reduce((n, r) => n + f(r), 0);
    const figures = {
      histories: runs.length,
      withWarmPool: runs.filter((r) => r.warmPool).length,
      launches: sum((r) => r.launches),
      abandoned: sum((r) => r.abandoned),
      returnedToPool: sum((r) => r.returnedToPool),
      leftPool: sum((r) => r.leftPool),
    };
    console.log(`      ${JSON.stringify(figures)}`);
    expect(figures.launches).to.be.greaterThan(runs.length);
    expect(figures.abandoned).to.be.greaterThan(0);
    expect(figures.returnedToPool).to.be.greaterThan(0);
    expect(figures.leftPool).to.be.greaterThan(0);
    const subjects = runs.flatMap((r) => r.notices);
    expect(subjects.some((s) => /abandoned launch/.test(s))).to.equal(true);
    expect(subjects.some((s) => /\(returns to warm pool\)/.test(s))).to.equal(true);
  });

  describe('the checker can fail', () => {
    it('catches a launch gate that takes no answer for an answer (CONTINUE on UNKNOWN)', async () => {
      // The broken variant: every probe of the gate answers IDLE, so a launch whose worker
      // never came up is let go on at its first step.
      const idleAlways = (deps: GateDeps): GateDeps => {
        const prober: Prober = {
          probe: async (address, settings, opts) => {
            const result = await deps.prober.probe(address, settings, opts);
            return result.status === 'unknown' ? { ...result, status: 'idle' } : result;
          },
        };
        return { ...deps, prober };
      };
      let caught: Run | undefined;
      for (let seed = 1; seed <= 40 && !caught; seed++) {
        const run = await runLaunchHistory(seed, idleAlways);
        if (run.violations.some((v) => v.startsWith('launch-ready'))) caught = run;
      }
      expect(caught, 'no history caught the broken launch gate').to.not.equal(undefined);
    });
  });
});
