/**
 * Retention in the fleet simulator: seeded histories with THEMIS_ON_DEADLINE=RETAIN
 * (sim/retain.ts) through the real gate, protect and SDK adapters, checked by sim/invariants.ts.
 * The property: with RETAIN no busy instance is ever terminated, at any hold length — holds
 * longer than the hook's 48 h global timeout included — and every retained instance is
 * terminated once it answers idle.
 *
 *   THEMIS_RETAIN_SHORT=400 THEMIS_RETAIN_LONG=40 npx mocha test/retain/sim.test.ts   more seeds
 */
import { expect } from 'chai';
import { TERMINATING_RETAINED } from '../../lib/aws/facts.js';
import type { GateDeps } from '../../lib/gate/step.js';
import { enableRetentionCommand } from '../../lib/retain/decide.js';
import { runHistory, type HistoryRun, type RunHistoryOptions } from '../../sim/history.js';
import { retainHistory, type RetainKind } from '../../sim/retain.js';
import { preloadOnDemandSdks } from '../../sim/simulation.js';

const SHORT = Number(process.env.THEMIS_RETAIN_SHORT ?? 60);
const LONG = Number(process.env.THEMIS_RETAIN_LONG ?? 6);
const HOUR = 3600_000;

async function run(kind: RetainKind, seed: number, options: RunHistoryOptions = {}) {
  return runHistory(await retainHistory(seed, kind), options);
}

/** The groups as the gate reads them, with the instance lifecycle policy changed. */
function groupsSaying(retains: boolean) {
  return (deps: GateDeps): GateDeps => ({
    ...deps,
    groups: {
      ...deps.groups,
      describeGroups: async (names, opts) =>
        (await deps.groups.describeGroups(names, opts)).map((g) => {
          const copy = { ...g };
          delete copy.retainsOnAbandon;
          return retains ? { ...copy, retainsOnAbandon: true } : copy;
        }),
      findGroupsByTag: (key, value, opts) => deps.groups.findGroupsByTag(key, value, opts),
    },
  });
}

describe('retain: simulated histories with RETAIN', function () {
  this.timeout(3_600_000);
  const runs: Array<{ kind: RetainKind; seed: number; run: HistoryRun }> = [];

  before(async () => {
    await preloadOnDemandSdks();
    for (let seed = 1; seed <= SHORT; seed++)
      runs.push({ kind: 'short', seed, run: await run('short', seed) });
    for (let seed = 1; seed <= LONG; seed++)
      runs.push({ kind: 'long', seed, run: await run('long', seed) });
    const r = runs.map((x) => x.run.sim.fleet);
    console.log(
      `      ${runs.length} histories: ${r.reduce((n, f) => n + f.retentions.length, 0)} retained (${r.reduce((n, f) => n + f.retentions.filter((x) => x.busy).length, 0)} busy), ${r.reduce((n, f) => n + f.terminations.filter((t) => t.fromRetained).length, 0)} terminated from Terminating:Retained`,
    );
  });

  it('never terminates a busy instance and leaves no idle instance retained', () => {
    const broken = runs.flatMap(({ kind, seed, run }) =>
      run.check.violations
        .filter((v) => v.kind === 'busy-terminated' || v.kind === 'retained-left')
        .map((v) => `${kind} seed ${seed}: ${v.kind}: ${v.message}`),
    );
    expect(broken).to.deep.equal([]);
  });

  it('holds every other property of the simulator too', () => {
    const broken = runs.flatMap(({ kind, seed, run }) =>
      run.check.violations.map((v) => `${kind} seed ${seed}: ${v.kind}: ${v.message}`),
    );
    expect(broken).to.deep.equal([]);
  });

  it('retained busy instances, and terminated them from Terminating:Retained once idle', () => {
    const fleets = runs.map((x) => x.run.sim.fleet);
    expect(fleets.some((f) => f.retentions.some((r) => r.busy))).to.equal(true);
    // Every retention ended with protect's TerminateInstanceInAutoScalingGroup, or the
    // instance is still busy (or silent, or its group in dry run) at the end.
    for (const { kind, seed, run: h } of runs) {
      for (const r of h.sim.fleet.retentions) {
        const inst = h.sim.fleet.instance(r.instanceId)!;
        const released = h.sim.fleet.terminations.some(
          (t) => t.instanceId === r.instanceId && t.fromRetained,
        );
        const stillNeeded =
          inst.lifecycleState === TERMINATING_RETAINED &&
          (!inst.answering ||
            inst.work.isBusy(h.sim.now()) ||
            h.sim.fleet.tagsOf(inst.group)['themis:dry-run'] === 'true');
        expect(released || stillNeeded, `${kind} seed ${seed} ${r.instanceId}`).to.equal(true);
        if (released) {
          expect(
            h.sim.published.some(
              (p) =>
                p.instanceId === r.instanceId && p.notice.attributes.event === 'retained-released',
            ),
            `${kind} seed ${seed} ${r.instanceId}: retained-released notice`,
          ).to.equal(true);
        }
      }
    }
  });

  it("kept a busy instance beyond the hook's 48 h global timeout", () => {
    const beyond = runs.filter(({ kind, run: h }) =>
      kind === 'long'
        ? h.sim.fleet.retentions.some((r) => {
            const work = h.sim.fleet.instance(r.instanceId)!.work;
            return r.busy && work.isBusy(r.action.startedAt + 48 * HOUR + HOUR);
          })
        : false,
    );
    expect(beyond.length, 'long histories with work past 49 h').to.be.greaterThan(0);
  });

  it('on a group that does not retain, completed with CONTINUE and said how to enable retention', () => {
    const fallback = runs.flatMap(({ run: h }) =>
      h.sim.published.filter(
        (p) =>
          p.notice.attributes.event === 'deadline' &&
          p.notice.message.includes(enableRetentionCommand(p.notice.attributes.group ?? '')),
      ),
    );
    expect(fallback.length).to.be.greaterThan(0);
    for (const { run: h } of runs) {
      for (const a of h.sim.fleet.actions) {
        if (a.ended?.result === 'ABANDON' && a.ended.by === 'completed')
          expect(h.sim.fleet.retainsOnAbandon(a.group), `${a.instanceId}`).to.equal(true);
      }
    }
  });

  describe('the checker can fail', () => {
    /** The first history (short, then long, seeds from 1) whose check has a busy-terminated. */
    async function firstBusyTerminated(options: RunHistoryOptions) {
      for (const kind of ['short', 'long'] as const) {
        for (let seed = 1; seed <= (kind === 'short' ? 60 : 6); seed++) {
          const h = await run(kind, seed, options);
          const v = h.check.violations.find((x) => x.kind === 'busy-terminated');
          if (v) return `${kind} seed ${seed}: ${v.message}`;
        }
      }
      return undefined;
    }

    it("catches RETAIN that abandons without checking the group's policy", async () => {
      // The gate believes every group retains: on one that does not, its ABANDON terminates.
      const found = await firstBusyTerminated({ wrapDeps: groupsSaying(true) });
      expect(found, 'some history shows it').to.not.equal(undefined);
      expect(found).to.match(/completed with ABANDON/);
    });

    it('catches a gate that ignores retention (RETAIN completed as CONTINUE on a retaining group)', async () => {
      const found = await firstBusyTerminated({ wrapDeps: groupsSaying(false) });
      expect(found, 'some history shows it').to.not.equal(undefined);
      expect(found).to.match(/completed with CONTINUE/);
    });
  });
});
