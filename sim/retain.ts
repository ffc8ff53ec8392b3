/**
 * Retention histories: the random histories of sim/history.ts (same faults, events and
 * settings changes) with THEMIS_ON_DEADLINE = RETAIN, groups that mostly retain abandoned
 * instances (some do not: the gate must then fall back to CONTINUE and say how to enable
 * retention), and work that outlasts the hold:
 *
 *   short  maxWaitSeconds 600 or 1800 and work units up to 90 minutes: the gate's deadline
 *          comes while most instances are busy;
 *   long   no maxWait: the gate holds until the hook's global timeout (48 h: HeartbeatTimeout
 *          3600 s) less its margin, and work units last 40–60 hours — holds
 *          longer than any lifecycle hook can give. Rechecks every 900 s and protect every
 *          10 minutes keep a history to a few thousand steps.
 *
 * The property (sim/invariants.ts): with RETAIN no busy instance is ever terminated, at any
 * hold length, and every retained instance is terminated once it answers idle.
 */
import { DEFAULT_HEARTBEAT_TIMEOUT_SECONDS } from '../lib/aws/facts.js';
import { deployed } from './deployed.js';
import { baseHistory, type HistoryEvent, type HistorySpec } from './history.js';
import { Random } from './random.js';

export type RetainKind = 'short' | 'long';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A retention history of its own (test/retain/sim.test.ts): a base history, retaining. */
export async function retainHistory(seed: number, kind: RetainKind): Promise<HistorySpec> {
  return withRetention(await baseHistory(seed), new Random(seed).fork(`retain-${kind}`), kind);
}

/**
 * `base` with RETAIN, mostly retaining groups and work that outlasts the hold, drawn from `r`
 * (randomHistory draws some of its histories this way too). A group's launch hook, warm pool
 * and tags stay as they are.
 */
export async function withRetention(
  base: HistorySpec,
  r: Random,
  kind: RetainKind,
): Promise<HistorySpec> {
  const params: Record<string, string> = {
    ...base.params,
    onDeadline: 'RETAIN',
    // The hook must not terminate on its own either: a timeout's ABANDON retains too.
    hookDefaultResult: r.chance(0.5) ? 'ABANDON' : 'CONTINUE',
  };
  // Both failure policies: then every ABANDON themis sends comes from RETAIN.
  if (params.ssmDocument) params.onSsmFailure = 'RETAIN';
  if (kind === 'short') {
    params.maxWaitSeconds = String(r.pick([600, 1800]));
  } else {
    delete params.maxWaitSeconds;
    // Rechecks 900 s apart need a HeartbeatTimeout past the deploy's margin (~1,955 s); the
    // API's default (one hour) still gives the 48 h global timeout (min(48 h, 100 × it)).
    params.heartbeatTimeout = String(DEFAULT_HEARTBEAT_TIMEOUT_SECONDS);
    params.recheckSeconds = '900';
  }
  // The deploy must accept the stack, as for every history.
  const d = await deployed(params);
  const groups = base.groups.map((g, i) => ({
    ...g,
    hook: { ...d.hook },
    ...(g.launchHook && d.launchHook ? { launchHook: { ...d.launchHook } } : {}),
    // Mostly retaining; the first group of a two-group history never does.
    ...(r.chance(0.8) && !(base.groups.length > 1 && i === 0) ? { retainOnAbandon: true } : {}),
  }));
  const long = kind === 'long';
  // At least one termination that protection does not stop (protect keeps busy instances
  // out of a scale-in), so that every history holds, and mostly retains, someone.
  const group = groups[groups.length - 1]!.name;
  const atMs = r.int(1, 10) * MINUTE + r.int(0, 59) * 1000;
  const extra: HistoryEvent = r.chance(0.5)
    ? { atMs, kind: 'terminate', group, pick: r.next(), decrement: r.chance(0.5) }
    : { atMs, kind: 'unhealthy', group, pick: r.next() };
  const events = [...base.events, extra].sort((a, b) => a.atMs - b.atMs);
  return {
    ...base,
    params,
    groups,
    events,
    protect: true,
    work: long
      ? {
          horizonMs: 20 * MINUTE,
          minUnitMs: 40 * HOUR,
          maxUnitMs: 60 * HOUR,
          minGapMs: 30_000,
          maxGapMs: 6 * MINUTE,
          busyAtStart: 0.8,
        }
      : { ...base.work, maxUnitMs: 90 * MINUTE, busyAtStart: 0.7 },
    retention: {
      protectIntervalSeconds: long ? 600 : 60,
      untilMs: long ? 120 * HOUR : 6 * HOUR,
    },
  };
}
