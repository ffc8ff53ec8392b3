/**
 * The claim themis sells, checked over many seeded random histories on the virtual clock:
 * the real protect and gate code and the real SDK adapters, the simulated AWS around them
 * (sim/), every number from the stack, faults injected. See sim/invariants.ts for the
 * properties and sim/history.ts for what a history is. The histories run in worker threads
 * (sim/runs.ts), one per core; the run prints its figures and every excused case's cause.
 *
 *   THEMIS_SEED=123 npx mocha test/sim/properties.test.ts      replay one history, verbosely
 *   THEMIS_HISTORIES=50000 THEMIS_SEED_BASE=70001 npx mocha …   explore further seeds
 *   npm run sim:long                                            100,000 histories
 */
import { expect } from 'chai';
import { TERMINATING_RETAINED, WARMED_PENDING_RETAINED } from '../../lib/aws/facts.js';
import { FAILED_STEPS_RIDDEN } from '../../lib/gate/budget.js';
import { LAUNCH_GATE_TAG } from '../../lib/gate/launch.js';
import type { GateDeps } from '../../lib/gate/step.js';
import type { ProbeResult } from '../../lib/ports.js';
import { deployed } from '../../sim/deployed.js';
import {
  describeHistory,
  formatFailure,
  randomHistory,
  replayCommand,
  runHistory,
  type HistoryRun,
  type HistorySpec,
  type RunHistoryOptions,
} from '../../sim/history.js';
import {
  checkInvariants,
  EXCUSE_CAUSES,
  tallyExcuses,
  WORK_AFTER_FINAL_IDLE,
  type ViolationKind,
} from '../../sim/invariants.js';
import { formatElapsed } from '../../sim/journal.js';
import { formatTally, runSeedsInParallel, type Tally } from '../../sim/runs.js';
import { Simulation } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';

const replaySeed = process.env.THEMIS_SEED ? Number(process.env.THEMIS_SEED) : undefined;
const histories = Number(process.env.THEMIS_HISTORIES ?? 10_000);
const seedBase = Number(process.env.THEMIS_SEED_BASE ?? 1);

/** The first history (seeds from 1, at most `limit`, optionally only those `fits`) that breaks `kind`. */
async function firstFailing(
  kind: ViolationKind,
  options: RunHistoryOptions,
  fits: (spec: HistorySpec) => boolean = () => true,
  limit = 400,
): Promise<HistoryRun | undefined> {
  for (let seed = 1; seed <= limit; seed++) {
    const spec = await randomHistory(seed);
    if (!fits(spec)) continue;
    const run = await runHistory(spec, options);
    if (run.check.violations.some((v) => v.kind === kind)) return run;
  }
  return undefined;
}

describe('sim/properties', function () {
  // 10,000 histories: ~12 ms of CPU each, over the machine's cores.
  this.timeout(900_000);

  if (replaySeed !== undefined) {
    it(`holds every property in history ${replaySeed} (replay)`, async () => {
      const run = await runHistory(await randomHistory(replaySeed));
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

  describe(`over ${histories.toLocaleString('en')} seeded histories`, () => {
    let tally: Tally;
    before(async () => {
      tally = await runSeedsInParallel(seedBase, histories);
      console.log(`      ${formatTally(tally).split('\n').join('\n      ')}`);
    });

    const holds = (kind: ViolationKind) => () => {
      const failures = tally.failures[kind] ?? [];
      expect(
        tally.violations[kind] ?? 0,
        `${tally.violations[kind]} histories break ${kind}:\n\n${failures.join('\n\n')}`,
      ).to.equal(0);
    };

    it('ran every history, with enough happening for the properties to mean something', () => {
      expect(tally.histories).to.equal(histories);
      expect(tally.actions).to.be.greaterThan(histories);
      expect(tally.steps).to.be.greaterThan(histories);
      // ECS-mode groups (sim/ecs-fleet.ts) are part of the histories, not a separate run.
      expect(tally.ecsHistories).to.be.greaterThan(histories / 20);
      expect(tally.ecsActions).to.be.greaterThan(tally.ecsHistories);
      // So are launch hooks, warm pools (with and without ReuseOnScaleIn) and retention
      // (sim/history.ts drawLifecycle): the properties below are checked on them too.
      const c = tally.lifecycle;
      expect(c.gatedLaunchHistories, 'gated launch hooks').to.be.greaterThan(histories / 50);
      expect(c.launchHookHistories).to.be.greaterThan(c.gatedLaunchHistories);
      expect(c.reuseOnScaleInHistories, 'ReuseOnScaleIn').to.be.greaterThan(histories / 100);
      expect(c.warmPoolHistories).to.be.greaterThan(c.reuseOnScaleInHistories);
      expect(c.retainHistories, 'RETAIN').to.be.greaterThan(histories / 200);
      // The rarer cases, where a run is long enough to hold some (10,000 by default: 65
      // launches abandoned, 3 holds past 48 h, 19 instances in Warmed:Pending:Retained).
      if (histories >= 5000) {
        expect(c.launchesAbandoned, 'launches abandoned').to.be.greaterThan(0);
        expect(c.poolReturns, 'returns to the warm pool').to.be.greaterThan(0);
        expect(c.poolDepartures, 'restarts from the warm pool').to.be.greaterThan(0);
        expect(c.longRetainHistories, 'holds past 48 h').to.be.greaterThan(0);
        expect(c.retained[TERMINATING_RETAINED] ?? 0).to.be.greaterThan(0);
        expect(c.retained[WARMED_PENDING_RETAINED] ?? 0).to.be.greaterThan(0);
        expect(c.busyPast48h, 'retained busy past 48 h').to.be.greaterThan(0);
        expect(c.terminatedFromRetained).to.be.greaterThan(0);
      }
      // Every excused case names its cause, one of the named ones (the summary printed above
      // counts each).
      for (const key of Object.keys(tally.excused)) {
        const [kind, cause] = key.split(/: (.*)/s);
        expect(kind, key).to.match(/^[a-z-]+$/);
        expect(
          EXCUSE_CAUSES.some((named) => named.test(cause ?? '')),
          `an excuse outside the named causes: ${key}`,
        ).to.equal(true);
      }
    });
    // A worker that takes new work in the moment between its IDLE answer and the release's
    // CompleteLifecycleAction is excused, by name and counted ("work started after the final
    // idle answer that led to the release"), only when the completing invocation got that
    // answer itself and the work began after it (sim/invariants.ts workAfterFinalIdle; the
    // gate that acts on a stale answer below is caught). Seeds 3340 and 5981 were such races.
    it(
      'terminates no busy instance while AWS was reachable and the deadline had not passed',
      holds('busy-terminated'),
    );
    it('ends every lifecycle action with an outcome notice', holds('outcome-notice'));
    it(
      'sends one outcome notice per action unless a fault repeats a step',
      holds('duplicate-notice'),
    );
    // Was skipped on main until the gate's fix (seeds 3293 and 6320): a live first step
    // failed before its recheck was scheduled, Lambda retried the event after a
    // `themis:dry-run=true` tag, and the retry started the chain in dry run. A first step old
    // enough to be a retry now never starts in dry run (lib/gate/decide.ts, chainDryRun).
    // Broken variant tried: chainDryRun without the age rule — seeds 3293 and 6320 fail again.
    it("leaves no heartbeat gap as long as the hook's HeartbeatTimeout", holds('heartbeat-gap'));
    it('keeps the Auto Scaling request rate within the budget', holds('request-rate'));
    it('never lets an instance stall a protect scan into its timeout', holds('scan-stalled'));
    it('releases an idle instance within a recheck interval and a step', holds('idle-held'));
    it('never removes protection after an answer other than idle', holds('unknown-unprotect'));
    it('settles every action and message', holds('unsettled'));
    it('accepts every input the simulated AWS produces', holds('rejected-input'));
    it(
      'says where each action took the instance: a warm-pool return is no termination, a retained instance is named in its Retained state',
      holds('outcome-passage'),
    );
    it('leaves no idle instance in Terminating:Retained', holds('retained-left'));
    it('lets a gated launch go on only once its worker answers', holds('launch-ready'));
  });

  describe('the checker can fail', () => {
    it('names every excuse it may give, and no other', () => {
      const named = (cause: string) => EXCUSE_CAUSES.some((r) => r.test(cause));
      const tally = tallyExcuses([
        { kind: 'busy-terminated', instanceId: 'i-1', cause: `${WORK_AFTER_FINAL_IDLE} (0.1 s)` },
        {
          kind: 'heartbeat-gap',
          instanceId: 'i-2',
          cause: `more than ${FAILED_STEPS_RIDDEN} failed steps in a row: Lambda killed ×2, sqs outage ×1`,
        },
      ]);
      for (const key of tally.keys()) expect(named(key.split(/: (.*)/s)[1]!), key).to.equal(true);
      expect(named('an unexplained termination')).to.equal(false);
      expect(
        named(`more than ${FAILED_STEPS_RIDDEN} failed steps in a row: a cosmic ray`),
      ).to.equal(false);
    });

    it('catches a prober without a hard deadline (a 101 endpoint stalls the protect scan)', async () => {
      const run = await firstFailing(
        'scan-stalled',
        { probesWithoutDeadline: true },
        (spec) =>
          spec.protect &&
          spec.events.some((e) => e.kind === 'misbehave' && /upgrade|1xx/.test(e.behaviour ?? '')),
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
      expect(run!.sim.protect.invocations.some((i) => i.result === 'timeout')).to.equal(true);
    });

    it('catches a gate that swallows Publish errors (an SNS outage inside the budget loses the notice)', async () => {
      const swallow = (deps: GateDeps): GateDeps => ({
        ...deps,
        ...(deps.notifications
          ? {
              notifications: {
                publish: (notice, opts) =>
                  deps.notifications!.publish(notice, opts).catch(() => undefined),
              },
            }
          : {}),
      });
      const run = await firstFailing('outcome-notice', { wrapDeps: swallow }, (spec) =>
        (spec.faults.outages ?? []).some((o) => o.service === 'sns'),
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
      expect(run!.check.violations.find((v) => v.kind === 'outcome-notice')!.message).to.match(
        /no outcome notice reached the topic/,
      );
    });

    it('catches a dry-run toggle that ends chains', async () => {
      // A gate that stops rescheduling once the group is tagged for a dry run.
      const endsChains = (deps: GateDeps, sim: Simulation): GateDeps => ({
        ...deps,
        rechecks: {
          schedule: async (body, delaySeconds, opts) => {
            const group = /"groupName":"([^"]+)"/.exec(body)?.[1];
            const tagged = !!group && sim.fleet.tagsOf(group)['themis:dry-run'] === 'true';
            if (tagged) return;
            await deps.rechecks.schedule(body, delaySeconds, opts);
          },
        },
      });
      const run = await firstFailing('heartbeat-gap', { wrapDeps: endsChains }, (spec) =>
        spec.events.some((e) => e.kind === 'dry-run-on'),
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
    });

    it('catches a visibility timeout shorter than a step (messages redelivered while their step runs)', async () => {
      const run = await firstFailing(
        'duplicate-notice',
        // 2 s, shorter than a step that probes (2 s) and calls AWS; at 1 s the chains forked
        // by each redelivery of seed 2 multiply faster than its history ends (runaway).
        { overrides: { visibilityTimeoutSeconds: 2 } },
        (spec) => !spec.faults.crash && !spec.faults.outages && !spec.faults.storms,
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
    });

    it('catches a gate that takes busy for idle', async () => {
      const lying = (deps: GateDeps): GateDeps => ({
        ...deps,
        prober: {
          async probe(address, settings, opts) {
            const answer = await deps.prober.probe(address, settings, opts);
            return answer.status === 'busy' ? { ...answer, status: 'idle' } : answer;
          },
        },
      });
      const run = await firstFailing('busy-terminated', { wrapDeps: lying });
      expect(run, 'some history terminates a busy instance').to.not.equal(undefined);
      const report = formatFailure(run!);
      expect(report).to.contain(`history seed ${run!.spec.seed}`);
      expect(report).to.contain(replayCommand(run!.spec.seed));
    });

    it('catches a gate that releases on an earlier idle answer, ignoring its latest busy one', async () => {
      // The excuse for work that starts after the final idle answer must not cover this: the
      // gate acts on the answer before the latest, so it releases a worker it just heard BUSY.
      const answers = new WeakMap<Simulation, Map<string, ProbeResult>>();
      const stale = (deps: GateDeps, sim: Simulation): GateDeps => ({
        ...deps,
        prober: {
          async probe(address, settings, opts) {
            const answer = await deps.prober.probe(address, settings, opts);
            let previous = answers.get(sim);
            if (!previous) answers.set(sim, (previous = new Map()));
            const before = previous.get(address);
            previous.set(address, answer);
            return before ?? answer;
          },
        },
      });
      // Only histories with a scale-in, to find one sooner (the first, seed 123, has one).
      const run = await firstFailing('busy-terminated', { wrapDeps: stale }, (spec) =>
        spec.events.some((e) => e.kind === 'scale-in'),
      );
      expect(run, 'some history terminates a busy instance').to.not.equal(undefined);
      const excused = run!.check.excused.filter((e) => e.kind === 'busy-terminated');
      expect(excused.map((e) => e.cause).join('\n')).to.not.contain(WORK_AFTER_FINAL_IDLE);
    });

    it('catches a gate that dawdles between its idle answer and the completion', async () => {
      // 30 s of virtual time before each CompleteLifecycleAction: work that starts meanwhile
      // is the gate's delay, not the moment no gate can close, and is not excused.
      const dawdle = (deps: GateDeps): GateDeps => {
        const lifecycle = deps.lifecycle;
        return {
          ...deps,
          lifecycle: {
            recordHeartbeat: (ref, opts) => lifecycle.recordHeartbeat(ref, opts),
            describeHook: (group, hook, opts) => lifecycle.describeHook(group, hook, opts),
            complete: async (ref, result, opts) => {
              await new Promise<void>((resolve) =>
                deps.timers!.setTimeout(() => resolve(), 30_000),
              );
              return lifecycle.complete(ref, result, opts);
            },
          },
        };
      };
      const run = await firstFailing('busy-terminated', { wrapDeps: dawdle }, (spec) =>
        spec.events.some((e) => e.kind === 'scale-in'),
      );
      expect(run, 'some history terminates a busy instance').to.not.equal(undefined);
      const excused = run!.check.excused.filter((e) => e.kind === 'busy-terminated');
      expect(excused.map((e) => e.cause).join('\n')).to.not.contain(WORK_AFTER_FINAL_IDLE);
    });

    it('catches a gate that stops heartbeating', async () => {
      // Only the heartbeats go (the adapter's other methods live on its prototype: a spread
      // would drop them and break the whole gate, not just its heartbeats).
      const silent = (deps: GateDeps): GateDeps => {
        const lifecycle = deps.lifecycle;
        return {
          ...deps,
          lifecycle: {
            recordHeartbeat: async () => 'recorded',
            describeHook: (group, hook, opts) => lifecycle.describeHook(group, hook, opts),
            complete: (ref, result, opts) => lifecycle.complete(ref, result, opts),
          },
        };
      };
      const run = await firstFailing('heartbeat-gap', { wrapDeps: silent });
      expect(run).to.not.equal(undefined);
    });

    it('catches a gate that waits far longer than its recheck interval', async () => {
      const slow = (deps: GateDeps): GateDeps => ({
        ...deps,
        config: { ...deps.config, recheckSeconds: deps.config.recheckSeconds * 10 },
      });
      expect(await firstFailing('idle-held', { wrapDeps: slow })).to.not.equal(undefined);
    });

    it('catches protection removed from an instance whose probe was not idle', async () => {
      const run = await firstFailing(
        'unknown-unprotect',
        {
          wrapPorts: (ports, sim) => ({
            ...ports,
            protection: {
              async setInstanceProtection(group, ids, protect, opts) {
                await ports.protection.setInstanceProtection(group, ids, protect, opts);
                const silent = sim.fleet
                  .instances(group)
                  .filter(
                    (i) =>
                      i.lifecycleState === 'InService' &&
                      sim.lastProbe.get(i.id)?.status === 'unknown',
                  )
                  .map((i) => i.id);
                if (silent.length)
                  await ports.protection.setInstanceProtection(group, silent, false, opts);
              },
            },
          }),
        },
        (spec) => spec.protect && spec.events.some((e) => e.kind === 'misbehave'),
      );
      expect(run).to.not.equal(undefined);
    });

    /** The gate's notices rewritten on their way to SNS (a notice-building bug, emulated). */
    const rewritingNotices =
      (rewrite: (message: string) => string) =>
      (deps: GateDeps): GateDeps => ({
        ...deps,
        ...(deps.notifications
          ? {
              notifications: {
                publish: (notice, opts) =>
                  deps.notifications!.publish(
                    { ...notice, message: rewrite(notice.message) },
                    opts,
                  ),
              },
            }
          : {}),
      });

    it('catches a gate that reports a warm-pool return as a termination', async () => {
      const run = await firstFailing(
        'outcome-passage',
        {
          wrapDeps: rewritingNotices((m) =>
            m.replace('"passage": "return-to-pool"', '"passage": "terminate"'),
          ),
        },
        (spec) => spec.groups.some((g) => g.warmPool?.reuseOnScaleIn),
        2000,
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
      expect(run!.check.violations.find((v) => v.kind === 'outcome-passage')!.message).to.match(
        /says passage terminate, but the action was a return-to-pool/,
      );
    });

    it('catches a retained notice that names Terminating:Retained for a warm-pool return', async () => {
      // Seed 1855: onDeadline=ABANDON on a retaining group whose warm pool takes instances
      // back; Auto Scaling keeps them in Warmed:Pending:Retained, which protect never ends.
      const run = await firstFailing(
        'outcome-passage',
        {
          wrapDeps: rewritingNotices((m) =>
            m.replaceAll(WARMED_PENDING_RETAINED, TERMINATING_RETAINED),
          ),
        },
        (spec) => spec.groups.some((g) => g.warmPool?.reuseOnScaleIn && g.retainOnAbandon),
        2000,
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
      expect(run!.check.violations.find((v) => v.kind === 'outcome-passage')!.message).to.match(
        /left it in Warmed:Pending:Retained, but no outcome notice says so/,
      );
    });

    it('catches protect terminating a retained instance that is still busy', async () => {
      // Each TerminateInstanceInAutoScalingGroup of an idle retained instance takes every other
      // Terminating:Retained instance of the group with it, busy or not.
      const run = await firstFailing(
        'busy-terminated',
        {
          wrapPorts: (ports, sim) => ({
            ...ports,
            retained: {
              async terminateRetained(instanceId, opts) {
                const group = sim.fleet.instance(instanceId)?.group;
                const others = sim.fleet
                  .instances(group)
                  .filter((i) => i.lifecycleState === TERMINATING_RETAINED && i.id !== instanceId);
                await ports.retained!.terminateRetained(instanceId, opts);
                for (const o of others) await ports.retained!.terminateRetained(o.id, opts);
              },
            },
          }),
        },
        (spec) => spec.retain !== undefined,
        2000,
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
      expect(run!.check.violations.find((v) => v.kind === 'busy-terminated')!.message).to.match(
        /terminated from Terminating:Retained while busy/,
      );
    });

    it('catches a launch gate that takes no answer for an answer (CONTINUE on unknown)', async () => {
      // Every unknown answer of the gate's probes reads idle: a launch whose worker has not
      // come up (connection refused) is let go on at its first step.
      const unknownIsIdle = (deps: GateDeps): GateDeps => ({
        ...deps,
        prober: {
          async probe(address, settings, opts) {
            const answer = await deps.prober.probe(address, settings, opts);
            return answer.status === 'unknown' ? { ...answer, status: 'idle' } : answer;
          },
        },
      });
      const run = await firstFailing(
        'launch-ready',
        { wrapDeps: unknownIsIdle },
        (spec) => spec.groups.some((g) => g.launchHook && g.tags?.[LAUNCH_GATE_TAG] === 'true'),
        2000,
      );
      expect(run, 'some history shows it').to.not.equal(undefined);
    });

    it('catches heartbeats synchronised across instances', async () => {
      // 60 busy instances terminated one every 5 s: each chain keeps its own phase, so their
      // steps spread over the recheck interval. Synchronised, they all step at once.
      const hold = async (synchronise: boolean) => {
        const stack = await deployed();
        const sim = new Simulation({
          seed: 5,
          deployed: stack,
          groups: [{ name: 'farm', desired: 60, hook: stack.hook }],
          work: ({ launchedAt }) =>
            new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 20 * 60_000 }]),
          protect: false,
          gate: synchronise
            ? {
                // Every recheck lands on the next whole minute.
                wrapDeps: (deps) => ({
                  ...deps,
                  rechecks: {
                    schedule: (body, _delaySeconds, opts) => {
                      const now = deps.clock();
                      const next = Math.ceil((now + 1000) / 60_000) * 60_000;
                      return deps.rechecks.schedule(body, Math.ceil((next - now) / 1000), opts);
                    },
                  },
                }),
              }
            : {},
        });
        sim.fleet
          .instances('farm')
          .forEach((inst, i) =>
            sim.scheduler.after(i * 5000, 'terminate', () =>
              sim.fleet.terminateInstance(inst.id, true),
            ),
          );
        await sim.runFor(10 * 60_000);
        await sim.runUntilSettled(2 * 3600_000);
        return checkInvariants(sim);
      };
      const spread = await hold(false);
      expect(spread.violations.map((v) => v.message)).to.deep.equal([]);
      const synchronised = await hold(true);
      expect(synchronised.violations.map((v) => v.kind)).to.include('request-rate');
      expect(synchronised.peakAutoScalingPerSecond).to.be.greaterThan(
        spread.peakAutoScalingPerSecond,
      );
    });
  });
});
