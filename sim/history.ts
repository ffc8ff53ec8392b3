/**
 * Random histories for the property tests (and anyone who wants many seeded runs): a seed
 * becomes a plain-data HistorySpec — groups and hooks, the gate's environment, protect's
 * schedule, work schedules, scale-ins, health replacements, TerminateInstance calls,
 * instances that stop answering, and faults — and runHistory plays it on the virtual clock
 * with the real protect and gate code, then checks the invariants.
 *
 * Histories are kept small (1–5 instances, ~20 virtual minutes of events) so thousands run
 * in seconds; every choice comes from the seed, so `randomHistory(seed)` is a replay.
 */
import type { LifecycleResult } from '../lib/ports.js';
import type { FaultRates } from './faults.js';
import type { HookSpec } from './fleet.js';
import { checkInvariants, type CheckResult } from './invariants.js';
import { Random } from './random.js';
import { DEFAULT_START_MS } from './scheduler.js';
import type { CommandsOptions } from './services.js';
import { Simulation, type GateOptions, type ProtectOptions } from './simulation.js';
import { formatElapsed } from './journal.js';
import { randomWork } from './work.js';

export type HistoryEventKind =
  'scale-in' | 'scale-out' | 'unhealthy' | 'terminate' | 'stops-answering';

export interface HistoryEvent {
  /** Virtual ms after the start. */
  atMs: number;
  kind: HistoryEventKind;
  group: string;
  /** scale-in / scale-out: how many. */
  count?: number;
  /** unhealthy / terminate / stops-answering: which live instance, as a fraction of the list. */
  pick?: number;
  /** terminate: decrement the desired capacity. */
  decrement?: boolean;
}

export interface HistorySpec {
  seed: number;
  groups: Array<{ name: string; size: number; hook: HookSpec }>;
  gateEnv: Record<string, string>;
  protect: { intervalSeconds: number } | false;
  faults: Partial<FaultRates>;
  commands?: CommandsOptions;
  work: {
    horizonMs: number;
    minUnitMs: number;
    maxUnitMs: number;
    minGapMs: number;
    maxGapMs: number;
    busyAtStart: number;
  };
  events: HistoryEvent[];
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
}

const MINUTE = 60_000;
/** The recheck queue as serverless.yml deploys it (test/sim/deployment.test.ts reads the file). */
const VISIBILITY_TIMEOUT_SECONDS = 120;

export function randomHistory(seed: number): HistorySpec {
  const r = new Random(seed).fork('history');
  const groupCount = r.chance(0.15) ? 2 : 1;
  const groups = Array.from({ length: groupCount }, (_, i) => ({
    name: `group-${i + 1}`,
    size: r.int(1, 5),
    hook: {
      name: 'themis-gate',
      heartbeatTimeoutSeconds: r.pick([300, 300, 600, 900, 3600]),
      defaultResult: r.pick<LifecycleResult>(['CONTINUE', 'ABANDON']),
    },
  }));

  // Only configurations deploy/stack.cjs accepts: HeartbeatTimeout > recheckSeconds + 2 ×
  // the recheck queue's visibility timeout (room for two failed steps in a row).
  const shortestHook = Math.min(...groups.map((g) => g.hook.heartbeatTimeoutSeconds));
  const recheckChoices = [15, 30, 30, 60, 120].filter(
    (s) => shortestHook > s + 2 * VISIBILITY_TIMEOUT_SECONDS,
  );
  const gateEnv: Record<string, string> = {
    THEMIS_RECHECK_SECONDS: String(r.pick(recheckChoices)),
    THEMIS_UNKNOWN_LIMIT: String(r.pick([1, 2, 3, 3, 5])),
    THEMIS_ON_DEADLINE: r.pick(['CONTINUE', 'ABANDON']),
  };
  const maxWait = r.pick([undefined, undefined, 600, 1800]);
  if (maxWait) gateEnv.THEMIS_MAX_WAIT_SECONDS = String(maxWait);
  let commands: CommandsOptions | undefined;
  if (r.chance(0.2)) {
    gateEnv.THEMIS_SSM_DOCUMENT = 'themis-drain';
    gateEnv.THEMIS_SSM_TIMEOUT_SECONDS = String(r.pick([60, 600]));
    gateEnv.THEMIS_ON_SSM_FAILURE = r.pick(['CONTINUE', 'ABANDON']);
    commands = {
      documents: r.chance(0.9) ? ['themis-drain'] : [],
      runSeconds: r.pick([5, 30, 120]),
      failRate: r.pick([0, 0.3]),
    };
  }

  const faults: Partial<FaultRates> = r.chance(0.4)
    ? {}
    : {
        throttle: r.pick([0, 0.1, 0.3, 0.5]),
        publishFailure: r.pick([0, 0, 0.2]),
        sendMessageFailure: r.pick([0, 0, 0.1]),
        stepCrash: r.pick([0, 0, 0.05, 0.15]),
        duplicateEvent: r.pick([0, 0.3]),
        duplicateRecheck: r.pick([0, 0.1]),
      };

  const horizonMs = 20 * MINUTE;
  const events: HistoryEvent[] = [];
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) {
    const group = r.pick(groups).name;
    const atMs = r.int(1, 19) * MINUTE + r.int(0, 59) * 1000;
    const roll = r.next();
    if (roll < 0.4) events.push({ atMs, kind: 'scale-in', group, count: r.int(1, 4) });
    else if (roll < 0.6) events.push({ atMs, kind: 'unhealthy', group, pick: r.next() });
    else if (roll < 0.75)
      events.push({ atMs, kind: 'terminate', group, pick: r.next(), decrement: r.chance(0.5) });
    else if (roll < 0.9) events.push({ atMs, kind: 'stops-answering', group, pick: r.next() });
    else events.push({ atMs, kind: 'scale-out', group, count: r.int(1, 2) });
  }
  events.sort((a, b) => a.atMs - b.atMs);

  return {
    seed,
    groups,
    gateEnv,
    protect: r.chance(0.85) ? { intervalSeconds: r.pick([30, 60, 60, 120]) } : false,
    faults,
    ...(commands ? { commands } : {}),
    work: {
      horizonMs,
      minUnitMs: 1 * MINUTE,
      maxUnitMs: 12 * MINUTE,
      minGapMs: 30_000,
      maxGapMs: 6 * MINUTE,
      busyAtStart: 0.5,
    },
    events,
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: 5,
  };
}

export interface RunHistoryOptions {
  /** Break the gate on purpose (see GateOptions.wrapDeps). */
  wrapDeps?: GateOptions['wrapDeps'];
  /** Break protect on purpose (see ProtectOptions.wrapPorts). */
  wrapPorts?: ProtectOptions['wrapPorts'];
}

export interface HistoryRun {
  spec: HistorySpec;
  sim: Simulation;
  check: CheckResult;
}

/** Longest a history may take to settle after its last event: past any hook's global timeout. */
const SETTLE_LIMIT_MS = 49 * 3600_000;

export async function runHistory(
  spec: HistorySpec,
  options: RunHistoryOptions = {},
): Promise<HistoryRun> {
  const w = spec.work;
  const start = DEFAULT_START_MS;
  const sim = new Simulation({
    seed: spec.seed,
    startMs: start,
    groups: spec.groups.map((g) => ({ name: g.name, desired: g.size, hook: g.hook })),
    work: ({ random, launchedAt }) =>
      randomWork(random, {
        fromMs: launchedAt,
        untilMs: start + w.horizonMs,
        minUnitMs: w.minUnitMs,
        maxUnitMs: w.maxUnitMs,
        minGapMs: w.minGapMs,
        maxGapMs: w.maxGapMs,
        busyAtStart: w.busyAtStart,
      }),
    faults: spec.faults,
    gate: {
      env: spec.gateEnv,
      visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds,
      maxReceiveCount: spec.maxReceiveCount,
      ...(options.wrapDeps ? { wrapDeps: options.wrapDeps } : {}),
    },
    protect: spec.protect
      ? {
          intervalSeconds: spec.protect.intervalSeconds,
          ...(options.wrapPorts ? { wrapPorts: options.wrapPorts } : {}),
        }
      : false,
    ...(spec.commands ? { commands: spec.commands } : {}),
  });
  for (const e of spec.events) {
    sim.scheduler.at(start + e.atMs, `history ${e.kind}`, () => applyEvent(sim, e));
  }
  sim.startProtect();
  await sim.runUntil(start + w.horizonMs + MINUTE);
  await sim.runUntilSettled(SETTLE_LIMIT_MS);
  return { spec, sim, check: checkInvariants(sim) };
}

function applyEvent(sim: Simulation, e: HistoryEvent): void {
  const fleet = sim.fleet;
  const live = fleet
    .instances(e.group)
    .filter((i) => i.lifecycleState === 'InService')
    .sort((a, b) => a.seq - b.seq);
  const chosen = live.length
    ? live[Math.min(live.length - 1, Math.floor((e.pick ?? 0) * live.length))]
    : undefined;
  switch (e.kind) {
    case 'scale-in':
      fleet.scaleIn(e.group, Math.min(e.count ?? 1, fleet.desiredCapacity(e.group)));
      return;
    case 'scale-out':
      fleet.setDesiredCapacity(e.group, fleet.desiredCapacity(e.group) + (e.count ?? 1));
      return;
    case 'unhealthy':
      if (chosen) fleet.markUnhealthy(chosen.id);
      return;
    case 'terminate':
      if (chosen) fleet.terminateInstance(chosen.id, e.decrement ?? false);
      return;
    case 'stops-answering':
      if (chosen) fleet.stopAnswering(chosen.id);
      return;
  }
}

/** One line per choice: printed next to a failing seed. */
export function describeHistory(spec: HistorySpec): string {
  const groups = spec.groups
    .map(
      (g) =>
        `${g.name}×${g.size} (hook ${g.hook.heartbeatTimeoutSeconds} s, ${g.hook.defaultResult})`,
    )
    .join(', ');
  const env = Object.entries(spec.gateEnv)
    .map(([k, v]) => `${k.replace('THEMIS_', '')}=${v}`)
    .join(' ');
  const faults = Object.entries(spec.faults)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const events = spec.events
    .map(
      (e) =>
        `${Math.round(e.atMs / 1000)}s ${e.kind}${e.count ? `×${e.count}` : ''}${e.decrement ? ' (decrement)' : ''}`,
    )
    .join(', ');
  return [
    `groups: ${groups}`,
    `gate: ${env}`,
    `protect: ${spec.protect ? `every ${spec.protect.intervalSeconds} s` : 'off'}`,
    `faults: ${faults || 'none'}`,
    spec.commands ? `ssm: ${JSON.stringify(spec.commands)}` : '',
    `events: ${events}`,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The command that replays one seed of the property tests. */
export function replayCommand(seed: number, spec?: HistorySpec): string {
  const drains = spec?.commands?.drains === false ? 'THEMIS_SSM_DRAINS=0 ' : '';
  return `${drains}THEMIS_SEED=${seed} npx mocha test/sim/properties.test.ts`;
}

/**
 * A failing history as a person debugging it wants it: the seed and how to replay it, what
 * was generated, what broke, and the timeline of each instance involved.
 */
export function formatFailure(run: HistoryRun, timelineLines = 40): string {
  const { spec, sim, check } = run;
  const start = sim.scheduler.startMs;
  const involved = new Set(check.violations.map((v) => v.instanceId).filter(Boolean));
  const timeline = sim.journal.entries
    .filter(
      (e) =>
        e.kind !== 'scan' && (involved.size === 0 || (e.instanceId && involved.has(e.instanceId))),
    )
    .slice(-timelineLines)
    .map((e) => `    ${formatElapsed(e.at, start)}  ${e.text}`);
  return [
    `history seed ${spec.seed} broke ${check.violations.length} invariant(s):`,
    ...check.violations.map((v) => `  - [${v.kind}] ${v.message}`),
    `  replay: ${replayCommand(spec.seed, spec)}`,
    '  history:',
    ...describeHistory(spec)
      .split('\n')
      .map((l) => `    ${l}`),
    '  work (busy units):',
    ...[...involved].map((id) => {
      const units = sim.fleet.instance(id!)?.work.units ?? [];
      const spans = units.map(
        (u) => `${formatElapsed(u.startMs, start)}–${formatElapsed(u.endMs, start)}`,
      );
      return `    ${id}: ${spans.join(', ') || 'always idle'}`;
    }),
    '  timeline:',
    ...timeline,
  ].join('\n');
}
