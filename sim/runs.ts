/**
 * Many seeded histories, split across worker threads (one per core): what the property test
 * and `npm run sim:long` run. Each worker plays a range of seeds and sends back a tally —
 * histories, lifecycle actions, gate steps and invocations, violations by property with the
 * first few failures formatted, excused cases counted by cause — and the tallies are summed.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { LAUNCHING } from '../lib/aws/facts.js';
import { LAUNCH_GATE_TAG } from '../lib/gate/launch.js';
import { formatFailure, randomHistory, runHistory, type HistoryRun } from './history.js';
import { tallyExcuses, type ViolationKind } from './invariants.js';

export interface Tally {
  histories: number;
  actions: number;
  /** Histories with an ECS-mode group, and the lifecycle actions of ECS-mode groups. */
  ecsHistories: number;
  ecsActions: number;
  /** Launch hooks, warm pools and retention (sim/history.ts drawLifecycle): what was played. */
  lifecycle: LifecycleCounts;
  steps: number;
  invocations: number;
  duplicateNotices: number;
  peakAutoScalingPerSecond: number;
  peakAutoScalingPerMinute: number;
  violations: Partial<Record<ViolationKind, number>>;
  /** The first failing histories per property, formatted. */
  failures: Partial<Record<ViolationKind, string[]>>;
  excused: Record<string, number>;
}

export interface LifecycleCounts {
  launchHookHistories: number;
  /** …of which the launch gate was on (the group tagged themis:launch-gate=true). */
  gatedLaunchHistories: number;
  launchActions: number;
  launchesAbandoned: number;
  warmPoolHistories: number;
  reuseOnScaleInHistories: number;
  poolReturns: number;
  poolDepartures: number;
  retainHistories: number;
  longRetainHistories: number;
  /** Instances retained, by the Retained state Auto Scaling kept them in. */
  retained: Record<string, number>;
  retainedBusy: number;
  terminatedFromRetained: number;
  /** Retained instances still busy 49 h after their action began (past any hook's timeout). */
  busyPast48h: number;
}

const REPORTED_PER_PROPERTY = 2;
const HOUR = 3600_000;

function emptyLifecycle(): LifecycleCounts {
  return {
    launchHookHistories: 0,
    gatedLaunchHistories: 0,
    launchActions: 0,
    launchesAbandoned: 0,
    warmPoolHistories: 0,
    reuseOnScaleInHistories: 0,
    poolReturns: 0,
    poolDepartures: 0,
    retainHistories: 0,
    longRetainHistories: 0,
    retained: {},
    retainedBusy: 0,
    terminatedFromRetained: 0,
    busyPast48h: 0,
  };
}

/** Adds one history's launch, warm-pool and retention figures to `c`. */
export function countLifecycle(c: LifecycleCounts, run: HistoryRun): LifecycleCounts {
  const { spec, sim } = run;
  const fleet = sim.fleet;
  if (spec.groups.some((g) => g.launchHook)) c.launchHookHistories++;
  if (spec.groups.some((g) => g.launchHook && g.tags?.[LAUNCH_GATE_TAG] === 'true'))
    c.gatedLaunchHistories++;
  if (spec.groups.some((g) => g.warmPool)) c.warmPoolHistories++;
  if (spec.groups.some((g) => g.warmPool?.reuseOnScaleIn)) c.reuseOnScaleInHistories++;
  if (spec.retain) c.retainHistories++;
  if (spec.retain === 'long') c.longRetainHistories++;
  c.launchActions += fleet.actions.filter((a) => a.transition === LAUNCHING).length;
  c.launchesAbandoned += fleet.launchEnds.filter(
    (e) => e.action.ended?.result === 'ABANDON',
  ).length;
  c.poolReturns += fleet.terminations.filter((t) => t.passage === 'return-to-pool').length;
  c.poolDepartures += fleet.actions.filter((a) => a.passage === 'leave-pool').length;
  for (const r of fleet.retentions) {
    c.retained[r.state] = (c.retained[r.state] ?? 0) + 1;
    if (r.busy) c.retainedBusy++;
    if (fleet.instance(r.instanceId)?.work.isBusy(r.action.startedAt + 49 * HOUR)) c.busyPast48h++;
  }
  c.terminatedFromRetained += fleet.terminations.filter((t) => t.fromRetained).length;
  return c;
}

function mergeLifecycle(into: LifecycleCounts, c: LifecycleCounts): LifecycleCounts {
  for (const key of Object.keys(into) as Array<keyof LifecycleCounts>) {
    if (key === 'retained') {
      for (const [state, n] of Object.entries(c.retained))
        into.retained[state] = (into.retained[state] ?? 0) + n;
    } else into[key] += c[key];
  }
  return into;
}

export function emptyTally(): Tally {
  return {
    histories: 0,
    actions: 0,
    ecsHistories: 0,
    ecsActions: 0,
    lifecycle: emptyLifecycle(),
    steps: 0,
    invocations: 0,
    duplicateNotices: 0,
    peakAutoScalingPerSecond: 0,
    peakAutoScalingPerMinute: 0,
    violations: {},
    failures: {},
    excused: {},
  };
}

export async function runSeeds(from: number, count: number): Promise<Tally> {
  const t = emptyTally();
  const excused = new Map<string, number>();
  for (let seed = from; seed < from + count; seed++) {
    const run = await runHistory(await randomHistory(seed));
    t.histories++;
    t.actions += run.sim.fleet.actions.length;
    if (run.spec.ecs) t.ecsHistories++;
    t.ecsActions += run.sim.fleet.actions.filter((a) => run.sim.ecs.isEcsGroup(a.group)).length;
    countLifecycle(t.lifecycle, run);
    t.steps += run.sim.steps.length;
    t.invocations += run.sim.gate.invocations.length;
    t.duplicateNotices += run.check.duplicateNotices;
    t.peakAutoScalingPerSecond = Math.max(
      t.peakAutoScalingPerSecond,
      run.check.peakAutoScalingPerSecond,
    );
    t.peakAutoScalingPerMinute = Math.max(
      t.peakAutoScalingPerMinute,
      run.check.peakAutoScalingPerMinute,
    );
    tallyExcuses(run.check.excused, excused);
    const kinds = new Set(run.check.violations.map((v) => v.kind));
    for (const kind of kinds) {
      t.violations[kind] = (t.violations[kind] ?? 0) + 1;
      const list = (t.failures[kind] ??= []);
      if (list.length < REPORTED_PER_PROPERTY) list.push(formatFailure(run));
    }
  }
  t.excused = Object.fromEntries(excused);
  return t;
}

function merge(into: Tally, t: Tally): Tally {
  into.histories += t.histories;
  into.actions += t.actions;
  into.ecsHistories += t.ecsHistories;
  into.ecsActions += t.ecsActions;
  mergeLifecycle(into.lifecycle, t.lifecycle);
  into.steps += t.steps;
  into.invocations += t.invocations;
  into.duplicateNotices += t.duplicateNotices;
  into.peakAutoScalingPerSecond = Math.max(
    into.peakAutoScalingPerSecond,
    t.peakAutoScalingPerSecond,
  );
  into.peakAutoScalingPerMinute = Math.max(
    into.peakAutoScalingPerMinute,
    t.peakAutoScalingPerMinute,
  );
  for (const [k, n] of Object.entries(t.violations) as [ViolationKind, number][]) {
    into.violations[k] = (into.violations[k] ?? 0) + n;
    into.failures[k] = [...(into.failures[k] ?? []), ...(t.failures[k] ?? [])].slice(
      0,
      REPORTED_PER_PROPERTY,
    );
  }
  for (const [k, n] of Object.entries(t.excused)) into.excused[k] = (into.excused[k] ?? 0) + n;
  return into;
}

/** Seeds [from, from + count) over `workers` threads (default: one per core). */
export async function runSeedsInParallel(
  from: number,
  count: number,
  workers = Math.max(1, Math.min(availableParallelism(), 4)),
): Promise<Tally> {
  const share = Math.ceil(count / workers);
  const parts: Promise<Tally>[] = [];
  for (let w = 0; w < workers; w++) {
    const start = from + w * share;
    const n = Math.min(share, from + count - start);
    if (n <= 0) break;
    parts.push(
      new Promise<Tally>((resolve, reject) => {
        const worker = new Worker(new URL('./history-worker.mjs', import.meta.url), {
          workerData: { from: start, count: n },
        });
        worker.once('message', (t: Tally) => resolve(t));
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`history worker exited with ${code}`));
        });
      }),
    );
  }
  const tallies = await Promise.all(parts);
  return tallies.reduce(merge, emptyTally());
}

export function formatTally(t: Tally): string {
  const excused = Object.entries(t.excused)
    .sort((a, b) => b[1] - a[1])
    .map(([cause, n]) => `    ${String(n).padStart(6)}  ${cause}`);
  const violations = Object.entries(t.violations).map(([k, n]) => `${k} ${n}`);
  return [
    `${t.histories.toLocaleString('en')} histories, ${t.actions.toLocaleString('en')} lifecycle actions, ${t.steps.toLocaleString('en')} gate steps in ${t.invocations.toLocaleString('en')} gate invocations; ${t.duplicateNotices} actions with more than one outcome notice; peak Auto Scaling requests ${t.peakAutoScalingPerSecond}/s, ${t.peakAutoScalingPerMinute}/min`,
    `  ECS mode: ${t.ecsHistories.toLocaleString('en')} histories, ${t.ecsActions.toLocaleString('en')} lifecycle actions`,
    ...formatLifecycle(t.lifecycle),
    `  histories breaking a property: ${violations.join(', ') || 'none'}`,
    `  excused (property: injected cause):`,
    ...(excused.length ? excused : ['    none']),
  ].join('\n');
}

function formatLifecycle(c: LifecycleCounts): string[] {
  const n = (x: number) => x.toLocaleString('en');
  const retained = Object.entries(c.retained)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([state, k]) => `${n(k)} in ${state}`);
  return [
    `  launch hooks: ${n(c.launchHookHistories)} histories (${n(c.gatedLaunchHistories)} gated), ${n(c.launchActions)} launch actions, ${n(c.launchesAbandoned)} abandoned`,
    `  warm pools: ${n(c.warmPoolHistories)} histories (${n(c.reuseOnScaleInHistories)} with ReuseOnScaleIn), ${n(c.poolReturns)} returns to the pool, ${n(c.poolDepartures)} restarts from it`,
    `  RETAIN: ${n(c.retainHistories)} histories (${n(c.longRetainHistories)} past 48 h); retained ${retained.join(', ') || 'none'} (${n(c.retainedBusy)} busy, ${n(c.busyPast48h)} busy 49 h after their action began), ${n(c.terminatedFromRetained)} terminated from Terminating:Retained`,
  ];
}

if (!isMainThread && workerData && parentPort) {
  const { from, count } = workerData as { from: number; count: number };
  const port = parentPort;
  void runSeeds(from, count).then((t) => port.postMessage(t));
}
