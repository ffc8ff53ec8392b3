/**
 * Random histories for the property tests: a seed becomes a plain-data HistorySpec — the
 * stack's params (drawn, then built by the deploy's own code: a combination the deploy
 * refuses is never played), groups, work schedules, operator and fleet events, and the
 * faults — and runHistory plays it on the virtual clock with the real protect and gate code
 * and the real SDK adapters, then checks the invariants.
 *
 * Faults drawn per history: outages of each AWS service lasting minutes, Auto Scaling
 * throttling storms, ResourceContention, Lambda containers killed after any external
 * operation, duplicate deliveries, every hostile probe behaviour, and settings changed
 * mid-hold (dry run toggled by tag, a longer probe timeout by tag, the SSM document removed
 * from the stack or from SSM, the hook deleted).
 *
 * Some histories, each drawn from a stream of its own (the others' draws are unchanged), add
 * to that: ECS mode on the first group (drawEcs); a launch hook (gated by tag or not) and a
 * warm pool (taking instances back on scale-in or not, Stopped/Running/Hibernated) on a group,
 * some of whose workers come up late or never (drawLifecycle); THEMIS_ON_DEADLINE=RETAIN on
 * mostly retaining groups, with holds cut by maxWait or work of 40–60 h past the hook's 48 h
 * global timeout (sim/retain.ts withRetention).
 *
 * Histories are small (1–5 instances, ~25 virtual minutes of events) so thousands run in
 * seconds; every choice comes from the seed, so `randomHistory(seed)` is a replay.
 */
import {
  DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
  GLOBAL_TIMEOUT_CAP_SECONDS,
  TERMINATING_RETAINED,
} from '../lib/aws/facts.js';
import type { LifecycleResult } from '../lib/ports.js';
import { deployed, type Deployed } from './deployed.js';
import { LAUNCH_GATE_TAG } from '../lib/gate/launch.js';
import type { GroupSpec, HookSpec } from './fleet.js';
import { checkInvariants, type CheckResult } from './invariants.js';
import { formatElapsed } from './journal.js';
import { PROBE_BEHAVIOURS, type ProbeBehaviour } from './probers.js';
import { Random } from './random.js';
import { withRetention, type RetainKind } from './retain.js';
import { DEFAULT_START_MS } from './scheduler.js';
import type { Outage, Service, Storm } from './sdk.js';
import type { CommandsOptions } from './services.js';
import {
  Simulation,
  type FaultOptions,
  type GateOptions,
  type ProtectOptions,
  type SimulationOptions,
} from './simulation.js';
import { randomWork, WorkSchedule } from './work.js';
import type { EcsClusterSpec } from './ecs-fleet.js';

export type HistoryEventKind =
  | 'scale-in'
  | 'scale-out'
  | 'unhealthy'
  | 'terminate'
  | 'misbehave'
  | 'dry-run-on'
  | 'dry-run-off'
  | 'probe-timeout-tag'
  | 'ssm-document-removed'
  | 'ssm-setting-removed'
  | 'hook-deleted'
  | 'ecs-service';

export interface HistoryEvent {
  /** Virtual ms after the start. */
  atMs: number;
  kind: HistoryEventKind;
  group: string;
  count?: number;
  /** Which live instance, as a fraction of the list. */
  pick?: number;
  decrement?: boolean;
  behaviour?: ProbeBehaviour;
  value?: string;
}

export interface HistorySpec {
  seed: number;
  /** Stack params over serverless.yml's defaults (accepted by deploy/stack.cjs). */
  params: Record<string, string>;
  groups: Array<{
    name: string;
    size: number;
    hook: HookSpec;
    retainOnAbandon?: boolean;
    launchHook?: HookSpec;
    warmPool?: GroupSpec['warmPool'];
    tags?: Record<string, string>;
  }>;
  protect: boolean;
  faults: FaultOptions;
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
  /** ECS mode for the first group (sim/ecs-fleet.ts): its cluster and ECS's own faults. */
  ecs?: HistoryEcs;
  /**
   * Retention histories (sim/retain.ts): protect scans every `protectIntervalSeconds` and
   * keeps scanning after the events, while an instance is retained or held, until `untilMs`
   * after the start — nothing but protect ever ends a retained instance.
   */
  retention?: { protectIntervalSeconds: number; untilMs: number };
  /** Retention drawn by randomHistory (for the run's counts): holds cut short, or past 48 h. */
  retain?: RetainKind;
  /**
   * New workers (launched, or restarted from the warm pool) come up after 0–`maxSeconds`
   * seconds; of those launched before `neverBeforeMs` after the start, a share `never` never
   * do (a broken image), so the launch gate abandons them and the group replaces them.
   */
  readiness?: { maxSeconds: number; never: number; neverBeforeMs: number };
}

export interface HistoryEcs {
  cluster: EcsClusterSpec;
  /** Windows in which ECS throttles every request. */
  throttled: Storm[];
}

const MINUTE = 60_000;
const SERVICES: readonly Service[] = ['autoscaling', 'ec2', 'sqs', 'sns', 'ssm'];

/** Params a history may draw; the deploy decides which combinations are valid. */
function drawParams(r: Random, d: Deployed): Record<string, string> {
  const p: Record<string, string> = {};
  if (r.chance(0.5)) {
    const ht = Number(d.params.heartbeatTimeout);
    p.heartbeatTimeout = String(r.pick([ht, ht, 2 * ht, DEFAULT_HEARTBEAT_TIMEOUT_SECONDS]));
  }
  if (r.chance(0.4)) p.recheckSeconds = String(r.pick([10, 15, 30, 60]));
  p.hookDefaultResult = r.pick<LifecycleResult>(['CONTINUE', 'ABANDON']);
  p.unknownLimit = String(r.pick([1, 2, 3, 3, 5]));
  p.onDeadline = r.pick(['CONTINUE', 'ABANDON']);
  if (r.chance(0.25)) p.maxWaitSeconds = String(r.pick([600, 1800]));
  if (r.chance(0.2)) {
    p.ssmDocument = 'themis-drain';
    p.ssmTimeoutSeconds = String(r.pick([60, 600]));
    p.onSsmFailure = r.pick(['CONTINUE', 'ABANDON']);
  }
  return p;
}

/** A history with everything drawn: the base, then launch hooks, warm pools and retention. */
export async function randomHistory(seed: number): Promise<HistorySpec> {
  return drawLifecycle(seed, await baseHistory(seed));
}

/** A history without launch hooks, warm pools or retention (sim/retain.ts starts from it). */
export async function baseHistory(seed: number): Promise<HistorySpec> {
  const r = new Random(seed).fork('history');
  const base = await deployed();
  let params = drawParams(r, base);
  let d: Deployed;
  try {
    d = await deployed(params);
  } catch {
    // The deploy refuses this combination: a stack nobody can deploy is not a history.
    params = {};
    d = base;
  }
  const groupCount = r.chance(0.15) ? 2 : 1;
  const groups = Array.from({ length: groupCount }, (_, i) => ({
    name: `group-${i + 1}`,
    size: r.int(1, 5),
    hook: { ...d.hook },
  }));
  let commands: CommandsOptions | undefined;
  if (params.ssmDocument) {
    commands = {
      documents: r.chance(0.9) ? ['themis-drain'] : [],
      runSeconds: r.pick([5, 30, 120]),
      failRate: r.pick([0, 0.3]),
    };
  }

  const horizonMs = 20 * MINUTE;
  const window = () => {
    const fromMs = DEFAULT_START_MS + r.int(1, 24) * MINUTE + r.int(0, 59) * 1000;
    return { fromMs, toMs: fromMs + r.pick([1, 2, 3, 5, 10, 20, 30]) * MINUTE };
  };
  const faults: FaultOptions = {};
  if (r.chance(0.6)) {
    faults.crash = r.pick([0, 0.05, 0.15]);
    faults.crashWithinOps = 8;
    faults.duplicateEvent = r.pick([0, 0.3]);
    // SQS's at-least-once delivery duplicates rarely; each duplicate is a second chain.
    faults.duplicateRecheck = r.pick([0, 0.01]);
    faults.contention = r.pick([0, 0.05]);
    const outages: Outage[] = [];
    const storms: Storm[] = [];
    const n = r.int(0, 2);
    for (let i = 0; i < n; i++) {
      if (r.chance(0.3)) storms.push(window());
      else outages.push({ service: r.pick(SERVICES), ...window() });
    }
    if (outages.length) faults.outages = outages;
    if (storms.length) faults.storms = storms;
  }

  const events: HistoryEvent[] = [];
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) {
    const group = r.pick(groups).name;
    const atMs = r.int(1, 19) * MINUTE + r.int(0, 59) * 1000;
    const roll = r.next();
    if (roll < 0.4) events.push({ atMs, kind: 'scale-in', group, count: r.int(1, 4) });
    else if (roll < 0.55) events.push({ atMs, kind: 'unhealthy', group, pick: r.next() });
    else if (roll < 0.68)
      events.push({ atMs, kind: 'terminate', group, pick: r.next(), decrement: r.chance(0.5) });
    else if (roll < 0.85)
      events.push({
        atMs,
        kind: 'misbehave',
        group,
        pick: r.next(),
        behaviour: r.pick(PROBE_BEHAVIOURS),
      });
    else events.push({ atMs, kind: 'scale-out', group, count: r.int(1, 2) });
  }
  // Settings changed mid-hold.
  if (r.chance(0.15)) {
    const group = r.pick(groups).name;
    const atMs = r.int(2, 24) * MINUTE;
    events.push({ atMs, kind: 'dry-run-on', group });
    if (r.chance(0.5))
      events.push({ atMs: atMs + r.int(1, 10) * MINUTE, kind: 'dry-run-off', group });
  }
  if (r.chance(0.05)) {
    events.push({
      atMs: r.int(2, 24) * MINUTE,
      kind: 'probe-timeout-tag',
      group: r.pick(groups).name,
      value: String(r.pick([10_000, 60_000])),
    });
  }
  if (commands && r.chance(0.3)) {
    events.push({
      atMs: r.int(2, 24) * MINUTE,
      kind: r.pick(['ssm-document-removed', 'ssm-setting-removed'] as const),
      group: groups[0]!.name,
    });
  }
  if (r.chance(0.03))
    events.push({ atMs: r.int(2, 24) * MINUTE, kind: 'hook-deleted', group: r.pick(groups).name });
  events.sort((a, b) => a.atMs - b.atMs);

  const protect = r.chance(0.85);
  const ecs = drawEcs(seed, groups[0]!.name, window, events);
  if (ecs) events.sort((a, b) => a.atMs - b.atMs);

  return {
    seed,
    params,
    groups,
    protect,
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
    ...(ecs ? { ecs: ecs.spec } : {}),
    ...(ecs?.outages.length
      ? { faults: { ...faults, outages: [...(faults.outages ?? []), ...ecs.outages] } }
      : {}),
  };
}

/** Share of histories whose first group is in ECS mode. */
export const ECS_HISTORY_SHARE = 0.1;

/**
 * ECS mode for the first group, from a stream of its own (the HTTP histories' draws are
 * unchanged): a cluster with jobs arriving at random (1–12 minute tasks), perhaps a daemon
 * and a service whose desired count changes, tasks that take seconds to start and to stop,
 * agents registering late; ECS outages and throttling windows.
 */
function drawEcs(
  seed: number,
  group: string,
  window: () => { fromMs: number; toMs: number },
  events: HistoryEvent[],
): { spec: HistoryEcs; outages: Outage[] } | undefined {
  const r = new Random(seed).fork('history-ecs');
  if (!r.chance(ECS_HISTORY_SHARE)) return undefined;
  const start = DEFAULT_START_MS;
  const cluster: EcsClusterSpec = {
    group,
    daemon: r.chance(0.7),
    service: r.pick([0, 0, 1, 2]),
    jobs: {
      untilMs: start + 20 * MINUTE,
      gapMs: [20_000, r.pick([2, 4, 6]) * MINUTE],
      durationMs: [MINUTE, 12 * MINUTE],
    },
    startMs: r.pick([
      [1000, 5000],
      [2000, 30_000],
      [30_000, 120_000],
    ] as const),
    stopMs: r.pick([
      [1000, 5000],
      [5000, 30_000],
      [30_000, 120_000],
    ] as const),
  };
  const outages: Outage[] = [];
  const throttled: Storm[] = [];
  if (r.chance(0.3)) outages.push({ service: 'ecs', ...window() });
  if (r.chance(0.2)) throttled.push(window());
  for (let i = r.int(0, 2); i > 0; i--) {
    events.push({
      atMs: r.int(1, 19) * MINUTE + r.int(0, 59) * 1000,
      kind: 'ecs-service',
      group,
      count: r.int(0, 4),
    });
  }
  return { spec: { cluster, throttled }, outages };
}

/** Share of histories with a launch hook or a warm pool (or both) on a group. */
export const LIFECYCLE_HISTORY_SHARE = 0.1;
/** Share of histories with THEMIS_ON_DEADLINE=RETAIN (sim/retain.ts)… */
export const RETAIN_HISTORY_SHARE = 0.012;
/** …and of those, the share whose work outlasts the hook's 48 h global timeout. */
export const LONG_RETAIN_SHARE = 0.06;

/**
 * Launch hooks, warm pools and retention, from a stream of their own. A launch hook is the
 * deploy's (launchHooks=true), on a group tagged for the launch gate or not (then the gate lets
 * launches go on at once); a warm pool takes instances back on scale-in or not, and rests
 * Stopped, Running or Hibernated; such a group sometimes retains abandoned instances, so an
 * ABANDON of a warm-pool return leaves it in Warmed:Pending:Retained. An ECS-mode group gets
 * neither. The deploy must accept the stack, as for every history; if it refuses, the
 * history stays as it was.
 */
async function drawLifecycle(seed: number, base: HistorySpec): Promise<HistorySpec> {
  const r = new Random(seed).fork('history-lifecycle');
  let spec = base;
  const candidates = base.groups.filter((g) => g.name !== base.ecs?.cluster.group);
  if (r.chance(LIFECYCLE_HISTORY_SHARE) && candidates.length) {
    const name = r.pick(candidates).name;
    const launchHook = r.chance(0.7);
    const warmPool = !launchHook || r.chance(0.6);
    const params = launchHook ? { ...base.params, launchHooks: 'true' } : base.params;
    const d = await deployed(params).catch(() => undefined);
    if (d && (!launchHook || d.launchHook)) {
      const gated = r.chance(0.8);
      const pool: GroupSpec['warmPool'] = {
        reuseOnScaleIn: r.chance(0.6),
        poolState: r.pick(['Stopped', 'Stopped', 'Running', 'Hibernated'] as const),
        size: r.int(0, 2),
      };
      const retains = r.chance(0.3);
      spec = {
        ...base,
        params,
        groups: base.groups.map((g) =>
          g.name !== name
            ? g
            : {
                ...g,
                ...(launchHook ? { launchHook: { ...d.launchHook! } } : {}),
                ...(launchHook && gated ? { tags: { ...g.tags, [LAUNCH_GATE_TAG]: 'true' } } : {}),
                ...(warmPool ? { warmPool: pool } : {}),
                ...(retains ? { retainOnAbandon: true } : {}),
              },
        ),
        ...(launchHook
          ? { readiness: { maxSeconds: 240, never: 0.15, neverBeforeMs: 20 * MINUTE } }
          : {}),
      };
    }
  }
  if (r.chance(RETAIN_HISTORY_SHARE)) {
    const kind: RetainKind = r.chance(LONG_RETAIN_SHARE) ? 'long' : 'short';
    spec = { ...(await withRetention(spec, r.fork('retain'), kind)), retain: kind };
  }
  return spec;
}

export interface RunHistoryOptions {
  /** Break the gate on purpose (see GateOptions.wrapDeps). */
  wrapDeps?: GateOptions['wrapDeps'];
  /** Break protect on purpose (see ProtectOptions.wrapPorts). */
  wrapPorts?: ProtectOptions['wrapPorts'];
  /** Break the deployment or the prober on purpose. */
  overrides?: SimulationOptions['overrides'];
  probesWithoutDeadline?: boolean;
}

export interface HistoryRun {
  spec: HistorySpec;
  sim: Simulation;
  check: CheckResult;
}

/** How long protect keeps scanning a group that retains, outside retention histories. */
const RETAINING_UNTIL_MS = 2 * 3600_000;

/** Longest a history may take to settle after its last event: past any hook's global timeout. */
const SETTLE_LIMIT_MS = (GLOBAL_TIMEOUT_CAP_SECONDS + 3600) * 1000;

export async function runHistory(
  spec: HistorySpec,
  options: RunHistoryOptions = {},
): Promise<HistoryRun> {
  const w = spec.work;
  const start = DEFAULT_START_MS;
  const sim = new Simulation({
    seed: spec.seed,
    deployed: await deployed(spec.params),
    startMs: start,
    groups: spec.groups.map((g) => ({
      name: g.name,
      desired: g.size,
      hook: g.hook,
      ...(g.retainOnAbandon ? { retainOnAbandon: true } : {}),
      ...(g.launchHook ? { launchHook: g.launchHook } : {}),
      ...(g.warmPool ? { warmPool: g.warmPool } : {}),
      ...(g.tags ? { tags: g.tags } : {}),
    })),
    ...(spec.readiness ? { fleet: { readiness: readinessOf(spec.readiness, start) } } : {}),
    work: ({ random, launchedAt, group }) =>
      // An ECS group's work is its tasks (sim/ecs-fleet.ts sets it).
      spec.ecs?.cluster.group === group
        ? WorkSchedule.idle()
        : randomWork(random, {
            fromMs: launchedAt,
            untilMs: start + w.horizonMs,
            minUnitMs: w.minUnitMs,
            maxUnitMs: w.maxUnitMs,
            minGapMs: w.minGapMs,
            maxGapMs: w.maxGapMs,
            busyAtStart: w.busyAtStart,
          }),
    faults: spec.faults,
    ...(spec.ecs ? { ecs: { clusters: [spec.ecs.cluster], throttled: spec.ecs.throttled } } : {}),
    gate: options.wrapDeps ? { wrapDeps: options.wrapDeps } : {},
    protect: spec.protect
      ? {
          ...(options.wrapPorts ? { wrapPorts: options.wrapPorts } : {}),
          ...(spec.retention ? { intervalSeconds: spec.retention.protectIntervalSeconds } : {}),
        }
      : false,
    ...(spec.commands ? { commands: spec.commands } : {}),
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.probesWithoutDeadline ? { probesWithoutDeadline: true } : {}),
  });
  for (const e of spec.events) {
    sim.scheduler.at(start + e.atMs, `history ${e.kind}`, () => applyEvent(sim, e));
  }
  sim.startProtect();
  await sim.runUntil(start + 30 * MINUTE);
  // Protect is what ends retained instances: it keeps scanning while any is retained or held,
  // in retention histories and wherever a group retains (a timeout's ABANDON retains too).
  const retention =
    spec.retention ??
    (spec.groups.some((g) => g.retainOnAbandon) ? { untilMs: RETAINING_UNTIL_MS } : undefined);
  if (retention) {
    const step = 10 * MINUTE;
    const busyFleet = () =>
      sim.fleet.activeActions().length > 0 ||
      sim.fleet.instances().some((i) => i.lifecycleState === TERMINATING_RETAINED);
    while (busyFleet() && sim.now() < start + retention.untilMs) {
      await sim.runUntil(sim.now() + step);
    }
  }
  sim.stopProtect();
  await sim.runUntilSettled(SETTLE_LIMIT_MS);
  return { spec, sim, check: checkInvariants(sim) };
}

function readinessOf(
  spec: NonNullable<HistorySpec['readiness']>,
  startMs: number,
): NonNullable<SimulationOptions['fleet']>['readiness'] {
  // The instances there at the start are up already.
  return ({ random, launchedAt }) =>
    launchedAt <= startMs
      ? 0
      : launchedAt < startMs + spec.neverBeforeMs && random.chance(spec.never)
        ? Infinity
        : random.int(0, spec.maxSeconds);
}

function applyEvent(sim: Simulation, e: HistoryEvent): void {
  const fleet = sim.fleet;
  const live = fleet
    .instances(e.group)
    .filter((i) => i.lifecycleState === 'InService' || i.lifecycleState === 'Terminating:Wait')
    .sort((a, b) => a.seq - b.seq);
  const inService = live.filter((i) => i.lifecycleState === 'InService');
  const pickFrom = <T>(list: T[]) =>
    list.length
      ? list[Math.min(list.length - 1, Math.floor((e.pick ?? 0) * list.length))]
      : undefined;
  switch (e.kind) {
    case 'scale-in':
      fleet.scaleIn(e.group, Math.min(e.count ?? 1, fleet.desiredCapacity(e.group)));
      return;
    case 'scale-out':
      fleet.setDesiredCapacity(e.group, fleet.desiredCapacity(e.group) + (e.count ?? 1));
      return;
    case 'unhealthy': {
      const chosen = pickFrom(inService);
      if (chosen) fleet.markUnhealthy(chosen.id);
      return;
    }
    case 'terminate': {
      const chosen = pickFrom(inService);
      if (chosen) fleet.terminateInstance(chosen.id, e.decrement ?? false);
      return;
    }
    case 'misbehave': {
      // ECS mode reads no status endpoint: a misbehaving one changes nothing there.
      if (sim.ecs.isEcsGroup(e.group)) return;
      const chosen = pickFrom(live);
      if (chosen) fleet.misbehave(chosen.id, e.behaviour ?? 'hang');
      return;
    }
    case 'dry-run-on':
      fleet.setTag(e.group, 'themis:dry-run', 'true');
      return;
    case 'dry-run-off':
      fleet.setTag(e.group, 'themis:dry-run', undefined);
      return;
    case 'probe-timeout-tag':
      fleet.setTag(e.group, 'themis:probe-timeout-ms', e.value);
      return;
    case 'ssm-document-removed':
      sim.commands.removeDocument('themis-drain');
      sim.journal.add('setting', 'the SSM document themis-drain was deleted', {
        data: { fault: 'ssm-document-removed' },
      });
      return;
    case 'ssm-setting-removed':
      sim.redeployGate({ THEMIS_SSM_DOCUMENT: '' }, 'THEMIS_SSM_DOCUMENT removed from the stack');
      return;
    case 'hook-deleted':
      fleet.deleteHook(e.group);
      return;
    case 'ecs-service': {
      const model = sim.ecs.modelOf(e.group);
      if (model) void model.setDesiredCount(model.name, 'web', e.count ?? 0);
      return;
    }
  }
}

/** One line per choice: printed next to a failing seed. */
export function describeHistory(spec: HistorySpec): string {
  const groups = spec.groups
    .map((g) => {
      const extras = [
        g.launchHook
          ? `launch hook${g.tags?.[LAUNCH_GATE_TAG] === 'true' ? ' (gated)' : ' (not gated)'}`
          : '',
        g.warmPool
          ? `warm pool ${g.warmPool.poolState ?? 'Stopped'}×${g.warmPool.size ?? 0}${g.warmPool.reuseOnScaleIn ? ' ReuseOnScaleIn' : ''}`
          : '',
        g.retainOnAbandon ? 'retains abandoned instances' : '',
      ].filter(Boolean);
      return `${g.name}×${g.size} (hook ${g.hook.heartbeatTimeoutSeconds} s, ${g.hook.defaultResult}${extras.map((e) => `; ${e}`).join('')})`;
    })
    .join(', ');
  const params = Object.entries(spec.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const f = spec.faults;
  const at = (ms: number) => formatElapsed(ms, DEFAULT_START_MS);
  const faults = [
    f.crash ? `crash=${f.crash}` : '',
    f.duplicateEvent ? `duplicateEvent=${f.duplicateEvent}` : '',
    f.duplicateRecheck ? `duplicateRecheck=${f.duplicateRecheck}` : '',
    f.contention ? `contention=${f.contention}` : '',
    ...(f.outages ?? []).map((o) => `${o.service} outage ${at(o.fromMs)}–${at(o.toMs)}`),
    ...(f.storms ?? []).map((s) => `throttling storm ${at(s.fromMs)}–${at(s.toMs)}`),
  ].filter(Boolean);
  const events = spec.events
    .map(
      (e) =>
        `${Math.round(e.atMs / 1000)}s ${e.kind}${e.count ? `×${e.count}` : ''}${e.behaviour ? `(${e.behaviour})` : ''}${e.value ? `=${e.value}` : ''}${e.decrement ? ' (decrement)' : ''}`,
    )
    .join(', ');
  return [
    `groups: ${groups}`,
    `params: ${params || 'defaults'}`,
    `protect: ${spec.protect ? 'on' : 'off'}`,
    `faults: ${faults.join(', ') || 'none'}`,
    spec.commands ? `ssm: ${JSON.stringify(spec.commands)}` : '',
    spec.ecs
      ? `ecs: ${JSON.stringify(spec.ecs.cluster)}${spec.ecs.throttled.map((t) => `, throttled ${at(t.fromMs)}–${at(t.toMs)}`).join('')}`
      : '',
    spec.readiness
      ? `readiness: 0–${spec.readiness.maxSeconds} s; ${spec.readiness.never * 100}% of launches before ${formatElapsed(DEFAULT_START_MS + spec.readiness.neverBeforeMs, DEFAULT_START_MS)} never come up`
      : '',
    spec.retain ? `retention: ${spec.retain} holds` : '',
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
        e.kind !== 'scan' && (involved.size === 0 || !e.instanceId || involved.has(e.instanceId)),
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
