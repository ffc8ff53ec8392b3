/**
 * The claim themis sells, checked over many seeded random histories on the virtual clock:
 * the real protect and gate code, the simulated Auto Scaling around them, faults injected.
 * See sim/invariants.ts for the invariants and sim/history.ts for what a history is.
 *
 *   THEMIS_SEED=123 npx mocha test/sim/properties.test.ts      replay one history, verbosely
 *   THEMIS_HISTORIES=50000 THEMIS_SEED_BASE=70001 npx mocha …   explore further seeds
 *   THEMIS_SSM_DRAINS=0 …   pre-termination commands that do not stop the worker taking work
 */
import { expect } from 'chai';
import type { GateDeps } from '../../lib/gate/step.js';
import {
  formatFailure,
  randomHistory,
  replayCommand,
  runHistory,
  describeHistory,
  type HistoryRun,
  type RunHistoryOptions,
} from '../../sim/history.js';
import type { ViolationKind } from '../../sim/invariants.js';
import { formatElapsed } from '../../sim/journal.js';

const replaySeed = process.env.THEMIS_SEED ? Number(process.env.THEMIS_SEED) : undefined;
const histories = Number(process.env.THEMIS_HISTORIES ?? 10_000);
const seedBase = Number(process.env.THEMIS_SEED_BASE ?? 1);
/** Stop collecting after this many failing seeds: the first few say enough. */
const MAX_REPORTED = 3;
/** The model's assumption that a pre-termination command drains the worker, switchable. */
const ssmDrains = process.env.THEMIS_SSM_DRAINS !== '0';

function historyFor(seed: number) {
  const spec = randomHistory(seed);
  if (spec.commands) spec.commands.drains = ssmDrains;
  return spec;
}

interface Tally {
  runs: number;
  actions: number;
  gateSteps: number;
  lostNotices: number;
  deadLettered: number;
  faultExcused: number;
  failures: HistoryRun[];
}

async function runSeeds(seeds: Iterable<number>, options: RunHistoryOptions = {}): Promise<Tally> {
  const tally: Tally = {
    runs: 0,
    actions: 0,
    gateSteps: 0,
    lostNotices: 0,
    deadLettered: 0,
    faultExcused: 0,
    failures: [],
  };
  for (const seed of seeds) {
    const run = await runHistory(historyFor(seed), options);
    tally.runs++;
    tally.actions += run.sim.fleet.actions.length;
    tally.gateSteps += run.sim.steps.length;
    tally.lostNotices += run.check.lostNotices.length;
    tally.deadLettered += run.check.deadLettered.length;
    tally.faultExcused += run.check.faultExcused.length;
    if (run.check.violations.length > 0) {
      tally.failures.push(run);
      if (tally.failures.length >= MAX_REPORTED) break;
    }
  }
  return tally;
}

function* range(from: number, count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield from + i;
}

/** Seeds from 1 until `found` reports the broken behaviour, at most `limit`. */
async function firstFailing(
  options: RunHistoryOptions,
  kind: ViolationKind,
  limit = 500,
): Promise<HistoryRun | undefined> {
  for (const seed of range(1, limit)) {
    const run = await runHistory(randomHistory(seed), options);
    if (run.check.violations.some((v) => v.kind === kind)) return run;
  }
  return undefined;
}

describe('sim/properties', function () {
  // 10,000 histories take ~30–60 s on two cores; a slow CI machine gets room.
  this.timeout(600_000);

  if (replaySeed !== undefined) {
    it(`holds every invariant in history ${replaySeed} (replay)`, async () => {
      const run = await runHistory(historyFor(replaySeed));
      const start = run.sim.scheduler.startMs;
      console.log(describeHistory(run.spec));
      for (const e of run.sim.journal.entries) {
        console.log(`  ${formatElapsed(e.at, start)}  ${e.kind.padEnd(15)} ${e.text}`);
      }
      console.log(run.check);
      if (run.check.violations.length) expect.fail(formatFailure(run));
    });
    return;
  }

  it(`holds every invariant over ${histories.toLocaleString('en')} seeded random histories`, async () => {
    const tally = await runSeeds(range(seedBase, histories));
    const summary = `${tally.runs} histories, ${tally.actions} lifecycle actions, ${tally.gateSteps} gate steps; excused: ${tally.lostNotices} notices lost to a crash between Complete and Publish, ${tally.deadLettered} chains dead-lettered, ${tally.faultExcused} hook timeouts after ${'≥'}3 failed steps`;
    if (tally.failures.length) {
      expect.fail(`${tally.failures.map((r) => formatFailure(r)).join('\n\n')}\n\n(${summary})`);
    }
    // Enough happened for the invariants to mean something.
    expect(tally.runs).to.equal(histories);
    expect(tally.actions).to.be.greaterThan(histories);
    console.log(`      ${summary}`);
  });

  describe('the checker', () => {
    it('catches a gate that takes busy for idle', async () => {
      const lying = (deps: GateDeps): GateDeps => ({
        ...deps,
        prober: {
          async probe(address, settings) {
            const answer = await deps.prober.probe(address, settings);
            return answer.status === 'busy' ? { ...answer, status: 'idle' } : answer;
          },
        },
      });
      const run = await firstFailing({ wrapDeps: lying }, 'busy-terminated');
      expect(run, 'some history terminates a busy instance').to.not.equal(undefined);
      const report = formatFailure(run!);
      expect(report).to.contain(`history seed ${run!.spec.seed}`);
      expect(report).to.contain(replayCommand(run!.spec.seed));
      expect(report).to.match(/\[busy-terminated\] i-\w+ was terminated while busy/);
    });

    it('catches a gate that completes without telling operators', async () => {
      // No Notifications port: the gate completes and has nowhere to tell anyone.
      const mute = (deps: GateDeps): GateDeps => ({ ...deps, notifications: undefined });
      const run = await firstFailing({ wrapDeps: mute }, 'outcome-notice');
      expect(run).to.not.equal(undefined);
      expect(run!.check.violations.find((v) => v.kind === 'outcome-notice')!.message).to.match(
        /no outcome notice was sent/,
      );
    });

    it('catches a gate that waits far longer than its recheck interval', async () => {
      const slow = (deps: GateDeps): GateDeps => ({
        ...deps,
        config: { ...deps.config, recheckSeconds: deps.config.recheckSeconds * 10 },
      });
      const run = await firstFailing({ wrapDeps: slow }, 'idle-held');
      expect(run).to.not.equal(undefined);
    });

    it('catches a gate that stops heartbeating', async () => {
      const silent = (deps: GateDeps): GateDeps => ({
        ...deps,
        lifecycle: { ...deps.lifecycle, recordHeartbeat: async () => 'recorded' },
      });
      const run = await firstFailing({ wrapDeps: silent }, 'outcome-notice');
      expect(run).to.not.equal(undefined);
      expect(run!.check.violations.map((v) => v.message).join('\n')).to.match(/heartbeat-timeout/);
    });

    it('catches protection removed from an instance whose probe was unknown', async () => {
      // A broken protect: every removal also takes the protection off any instance whose
      // latest answer was unknown (what lib/protect/plan.ts must never do).
      let run: HistoryRun | undefined;
      for (const seed of range(1, 500)) {
        const spec = randomHistory(seed);
        if (!spec.protect || !spec.events.some((e) => e.kind === 'stops-answering')) continue;
        run = await runHistory(spec, {
          wrapPorts: (ports, sim) => ({
            ...ports,
            protection: {
              async setInstanceProtection(group, ids, protect) {
                await ports.protection.setInstanceProtection(group, ids, protect);
                const silent = sim.fleet
                  .instances(group)
                  .filter(
                    (i) =>
                      i.lifecycleState === 'InService' &&
                      sim.lastProbe.get(i.id)?.status === 'unknown',
                  )
                  .map((i) => i.id);
                if (silent.length)
                  await ports.protection.setInstanceProtection(group, silent, false);
              },
            },
          }),
        });
        if (run.check.violations.some((v) => v.kind === 'unknown-unprotect')) break;
        run = undefined;
      }
      expect(run, 'some history removes protection after an unknown answer').to.not.equal(
        undefined,
      );
    });
  });
});
