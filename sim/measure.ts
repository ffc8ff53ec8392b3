/**
 * Figures a benchmark reads off a finished simulation (virtual time, so they measure the
 * design — intervals, retries — not this machine's speed).
 *
 * - releaseLatencies: for each lifecycle action the gate completed while the instance was
 *   idle, how long after the worker went idle (or after the action began, if it was idle
 *   already) the CompleteLifecycleAction came.
 * - gateInvocationsPerHourOfHold: gate steps (Lambda invocations) per hour that instances
 *   spent in Terminating:Wait.
 */
import type { Deployed } from './deployed.js';
import type { SimLifecycleAction } from './fleet.js';
import { peakRates } from './invariants.js';
import { Simulation } from './simulation.js';
import { randomWork, WorkSchedule } from './work.js';

export interface ReleaseLatency {
  instanceId: string;
  /** Virtual ms when the worker went idle (or the action began, whichever is later). */
  idleAtMs: number;
  releasedAtMs: number;
  latencyMs: number;
}

/**
 * When the instance of a completed action became idle for good (or when the action began,
 * if it was idle already); undefined if the gate did not complete it, or it was busy or
 * silent at that moment (deadline, unreachable: no idle wait to measure).
 */
export function idleAt(sim: Simulation, action: SimLifecycleAction): number | undefined {
  const ended = action.ended;
  if (!ended || ended.by !== 'completed') return undefined;
  const inst = sim.fleet.instance(action.instanceId);
  if (!inst || !inst.answering) return undefined;
  const idleSince = inst.work.idleSince(ended.at);
  // Idle only counts once the worker is up to say so (a launch waits for its worker).
  return idleSince === undefined ? undefined : Math.max(idleSince, action.startedAt, inst.readyAt);
}

export function releaseLatencies(sim: Simulation): ReleaseLatency[] {
  const out: ReleaseLatency[] = [];
  for (const action of sim.fleet.actions) {
    const idleAtMs = idleAt(sim, action);
    const ended = action.ended;
    if (idleAtMs === undefined || !ended) continue;
    out.push({
      instanceId: action.instanceId,
      idleAtMs,
      releasedAtMs: ended.at,
      latencyMs: ended.at - idleAtMs,
    });
  }
  return out;
}

export function gateInvocationsPerHourOfHold(sim: Simulation): number {
  let heldMs = 0;
  for (const action of sim.fleet.actions) {
    heldMs += (action.ended?.at ?? sim.now()) - action.startedAt;
  }
  return heldMs > 0 ? sim.gate.invocations.length / (heldMs / 3_600_000) : 0;
}

/** Nearest-rank percentile of `values` (p in 0..100); NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Auto Scaling operations themis sends. */
const AUTO_SCALING_APIS = [
  'DescribeAutoScalingGroups',
  'DescribeLifecycleHooks',
  'SetInstanceProtection',
  'RecordLifecycleActionHeartbeat',
  'CompleteLifecycleAction',
];

export interface GateHoldFigures {
  instances: number;
  /** idle → CompleteLifecycleAction, ms, for actions the gate completed after the work ended. */
  latenciesMs: number[];
  holdHours: number;
  invocations: number;
  /** Auto Scaling calls (SDK calls, not attempts) per hour of hold per instance. */
  autoScalingCallsPerHourPerInstance: number;
  heartbeats: number;
  busyTerminations: number;
  outcomes: Record<string, number>;
  peakAutoScalingPerSecond: number;
  /** Auto Scaling calls by API over the whole run (all instances). */
  autoScalingCallsByApi: Record<string, number>;
  wallMs: number;
}

/**
 * `instances` busy instances (5–60 min of work left, seeded) scaled in at once with the
 * stack's defaults; the gate holds them all until their work ends.
 */
export async function measureGateHold(
  stack: Deployed,
  instances = 200,
  seed = 20_251_122,
): Promise<GateHoldFigures> {
  const MIN = 60_000;
  const sim = new Simulation({
    seed,
    deployed: stack,
    groups: [{ name: 'workers', desired: instances, hook: stack.hook }],
    work: ({ launchedAt, random }) =>
      new WorkSchedule([
        { startMs: launchedAt, endMs: launchedAt + random.int(5 * MIN, 60 * MIN) },
      ]),
    protect: false,
  });
  const wallStarted = performance.now();
  sim.fleet.setDesiredCapacity('workers', 0);
  const settled = await sim.runUntilSettled(3 * 3600_000);
  if (!settled) throw new Error('gate hold: the simulation did not settle within 3 hours');
  const latenciesMs = releaseLatencies(sim).map((l) => l.latencyMs);
  let holdMs = 0;
  const outcomes: Record<string, number> = {};
  for (const a of sim.fleet.actions) {
    const key = a.ended ? `${a.ended.by} ${a.ended.result}` : 'not ended';
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    holdMs += (a.ended?.at ?? sim.now()) - a.startedAt;
  }
  const holdHours = holdMs / 3600_000;
  const autoScalingCalls = AUTO_SCALING_APIS.reduce((n, api) => n + sim.calls.count(api), 0);
  return {
    instances,
    latenciesMs,
    holdHours,
    invocations: sim.gate.invocations.length,
    autoScalingCallsPerHourPerInstance: autoScalingCalls / holdHours,
    heartbeats: sim.calls.count('RecordLifecycleActionHeartbeat'),
    busyTerminations: sim.fleet.terminations.filter((t) => t.busy).length,
    outcomes,
    peakAutoScalingPerSecond: peakRates(sim.account.autoScalingRequests).perSecond.count,
    autoScalingCallsByApi: Object.fromEntries(
      AUTO_SCALING_APIS.map((api) => [api, sim.calls.count(api)]),
    ),
    wallMs: performance.now() - wallStarted,
  };
}

export interface ProtectRateFigures {
  instances: number;
  minutes: number;
  /** Auto Scaling requests (attempts) per second, averaged over the run. */
  sustainedPerSecond: number;
  peakPerSecond: number;
  peakPerMinute: number;
  calls: Record<string, number>;
}

/**
 * protect on its deployed schedule over one group of `instances` (half busy, work changing
 * every few minutes), for `minutes`: the Auto Scaling request rate it sustains.
 */
export async function measureProtectRate(
  stack: Deployed,
  instances = 1000,
  minutes = 10,
  seed = 7,
): Promise<ProtectRateFigures> {
  const MIN = 60_000;
  const sim = new Simulation({
    seed,
    deployed: stack,
    groups: [{ name: 'fleet', desired: instances, hook: stack.hook }],
    work: ({ launchedAt, random }) =>
      randomWork(random, {
        fromMs: launchedAt,
        untilMs: launchedAt + (minutes + 5) * MIN,
        minUnitMs: 2 * MIN,
        maxUnitMs: 8 * MIN,
        minGapMs: MIN,
        maxGapMs: 6 * MIN,
        busyAtStart: 0.5,
      }),
    gate: { enabled: false },
  });
  const before = sim.calls.snapshot();
  sim.startProtect();
  await sim.runFor(minutes * MIN);
  sim.stopProtect();
  await sim.runFor(2 * MIN);
  const requests = sim.account.autoScalingRequests;
  const { perSecond, perMinute } = peakRates(requests);
  return {
    instances,
    minutes,
    sustainedPerSecond: requests.length / (minutes * 60),
    peakPerSecond: perSecond.count,
    peakPerMinute: perMinute.count,
    calls: sim.calls.since(before),
  };
}

export interface AutoScalingRateFigures {
  held: number;
  scanned: number;
  minutes: number;
  /** Auto Scaling requests (attempts, throttled ones included) in the window. */
  requests: number;
  throttled: number;
  /** The busiest 60-second window, per second. */
  sustainedPerSecond: number;
  /** The busiest 10-second window, per second: a synchronised wave shows here. */
  peakTenSecondsPerSecond: number;
  /** When that window starts (ms from the scale-in), and its requests by API. */
  peakTenSecondsAtMs: number;
  peakTenSecondsByApi: Record<string, number>;
  peakPerSecond: number;
  peakAtMs: number;
  /** Requests by API in the window, and in its busiest second. */
  byApi: Record<string, number>;
  peakSecondByApi: Record<string, number>;
  /** Requests in each 10-second slice of the window, in order. */
  perTenSeconds: number[];
  wallMs: number;
}

/**
 * The rate scenario: `held` busy instances (5–60 min of work left) scaled in at
 * once, held by the gate, while protect scans a group of `scanned` on its schedule — the
 * account's Auto Scaling request rate over the first `minutes` (the scale-in, the first
 * heartbeats, containers re-reading group tags, protect's scans).
 */
export async function measureHoldWhileScanning(
  stack: Deployed,
  held = 200,
  scanned = 1000,
  minutes = 15,
  seed = 20_251_126,
): Promise<AutoScalingRateFigures> {
  const MIN = 60_000;
  const sim = new Simulation({
    seed,
    deployed: stack,
    groups: [
      { name: 'workers', desired: held, hook: stack.hook },
      { name: 'fleet', desired: scanned, hook: stack.hook },
    ],
    work: ({ group, launchedAt, random }) =>
      group === 'workers'
        ? new WorkSchedule([
            { startMs: launchedAt, endMs: launchedAt + random.int(5 * MIN, 60 * MIN) },
          ])
        : randomWork(random, {
            fromMs: launchedAt,
            untilMs: launchedAt + (minutes + 5) * MIN,
            minUnitMs: 2 * MIN,
            maxUnitMs: 8 * MIN,
            minGapMs: MIN,
            maxGapMs: 6 * MIN,
            busyAtStart: 0.5,
          }),
    // protect scans the other group: the held ones are Terminating:Wait, not its business.
    protect: { env: { THEMIS_TARGETS: JSON.stringify([{ asgName: 'fleet' }]) } },
  });
  const wallStarted = performance.now();
  const fromMs = sim.now();
  sim.fleet.setDesiredCapacity('workers', 0);
  sim.startProtect();
  await sim.runFor(minutes * MIN);
  sim.stopProtect();
  const untilMs = fromMs + minutes * MIN;
  const times: number[] = [];
  const apis: { api: string; throttled: boolean }[] = [];
  sim.account.autoScalingRequests.forEach((at, i) => {
    if (at < fromMs || at >= untilMs) return;
    times.push(at);
    apis.push(sim.account.autoScalingRequestApis[i]!);
  });
  const { perSecond, perMinute } = peakRates(times);
  const tenSeconds = peakWindow(times, 10_000);
  const byApi: Record<string, number> = {};
  const peakSecondByApi: Record<string, number> = {};
  const peakTenSecondsByApi: Record<string, number> = {};
  times.forEach((at, i) => {
    const { api } = apis[i]!;
    byApi[api] = (byApi[api] ?? 0) + 1;
    if (at >= perSecond.at && at < perSecond.at + 1000) {
      peakSecondByApi[api] = (peakSecondByApi[api] ?? 0) + 1;
    }
    if (at >= tenSeconds.at && at < tenSeconds.at + 10_000) {
      peakTenSecondsByApi[api] = (peakTenSecondsByApi[api] ?? 0) + 1;
    }
  });
  return {
    held,
    scanned,
    minutes,
    requests: times.length,
    throttled: apis.filter((a) => a.throttled).length,
    sustainedPerSecond: perMinute.count / 60,
    peakTenSecondsPerSecond: tenSeconds.count / 10,
    peakTenSecondsAtMs: tenSeconds.at - fromMs,
    peakTenSecondsByApi,
    peakPerSecond: perSecond.count,
    peakAtMs: perSecond.at - fromMs,
    byApi,
    peakSecondByApi,
    perTenSeconds: Array.from({ length: minutes * 6 }, (_, k) =>
      times.reduce((n, at) => n + (Math.floor((at - fromMs) / 10_000) === k ? 1 : 0), 0),
    ),
    wallMs: performance.now() - wallStarted,
  };
}

/** The most of sorted `times` in any window of `windowMs`, and when that window starts. */
function peakWindow(times: readonly number[], windowMs: number): { count: number; at: number } {
  let best = { count: 0, at: times[0] ?? 0 };
  let from = 0;
  for (let to = 0; to < times.length; to++) {
    while (times[to]! - times[from]! >= windowMs) from++;
    if (to - from + 1 > best.count) best = { count: to - from + 1, at: times[from]! };
  }
  return best;
}
