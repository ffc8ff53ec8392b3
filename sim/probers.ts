/**
 * Probes in virtual time.
 *
 * createModelProber: the real prober (lib/probe.ts `createHttpProber`, its deadline on the
 * container's virtual timers) over a virtual transport. A worker answers after a short
 * latency with what its work schedule says *at that moment* ('BUSY'/'IDLE'), or — when its
 * status endpoint misbehaves (ProbeBehaviour: the hostile servers of the hardening issue
 * reduced to "answers after X ms / never / fails at once") — late, never, or with an error.
 * Only the prober's own deadline ends a hang.
 *
 * recordProbes: remembers each instance's latest answer, so the checker can ask "what did
 * the last probe say before this protection was removed?".
 */
import type { Prober, ProbeStatus } from '../lib/ports.js';
import {
  createHttpProber,
  ProbeFailure,
  type ProbeReply,
  type ProbeTransport,
} from '../lib/probe.js';
import type { Timers } from '../lib/time.js';
import type { Fleet } from './fleet.js';
import type { Random } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { Owner } from './sdk.js';
/** How an instance's status endpoint behaves (the hardening issue's hostile servers). */
export type ProbeBehaviour =
  | 'hang'
  | 'upgrade-kept'
  | 'upgrade-closed'
  | 'endless-1xx'
  | 'endless-headers'
  | 'endless-body'
  | 'noise'
  | 'reset'
  | 'refused'
  | 'slow';

export const PROBE_BEHAVIOURS: readonly ProbeBehaviour[] = [
  'hang',
  'upgrade-kept',
  'upgrade-closed',
  'endless-1xx',
  'endless-headers',
  'endless-body',
  'noise',
  'reset',
  'refused',
  'slow',
];

/** Latency of a healthy worker's answer, ms. */
const ANSWER_MS: readonly [number, number] = [1, 40];

export interface ProbeRecord {
  at: number;
  status: ProbeStatus;
}

export interface ProbeWorld {
  fleet: Fleet;
  scheduler: Scheduler;
  random: Random;
  lastProbe: Map<string, ProbeRecord>;
  /** A second record to keep (protect's own answers). */
  alsoRecordIn?: Map<string, ProbeRecord>;
}

export interface ModelProberOptions {
  /**
   * false: the HTTP client's own timeout only (got's, which an upgrade or an endless stream
   * of 1xx answers switches off) instead of lib/probe.ts's deadline — a broken variant.
   */
  hardDeadline?: boolean;
}

const HOST = /^http:\/\/([\d.]+):/;

/**
 * The HTTP exchange in virtual time, as a ProbeTransport (lib/probe.ts): what the worker on
 * the probed address does, answered on the container's clock. A crash right after the
 * answer loses it with the process.
 */
export function virtualTransport(world: ProbeWorld, owner: Owner): ProbeTransport {
  const { scheduler } = world;
  const after = (ms: number, fn: () => void) =>
    scheduler.after(ms, 'probe', () => {
      if (owner.alive()) fn();
    });
  return (exchange) =>
    new Promise<ProbeReply>((resolve, reject) => {
      const address = HOST.exec(exchange.url)?.[1] ?? '';
      const inst = world.fleet.instanceAt(address);
      const quick = world.random.int(ANSWER_MS[0], ANSWER_MS[1]);
      const fail = (reason: string) =>
        after(quick, () => {
          if (!owner.tookEffect('probe')) reject(new ProbeFailure(reason));
        });
      const answer = (delayMs: number) =>
        after(delayMs, () => {
          const body = world.fleet.answer(inst!.id);
          if (owner.tookEffect('probe')) return;
          // A worker that stopped answering (crashed, cut off) never answers: the deadline ends it.
          if (body !== undefined) resolve({ statusCode: 200, body });
        });
      if (!inst || inst.lifecycleState === 'Terminated') return void fail('connection refused');
      // A worker that has not come up yet (booting, or a stopped warm pool instance) refuses.
      if (inst.answering && !world.fleet.isUp(inst)) return void fail('connection refused');
      switch (inst.probeBehaviour) {
        case undefined:
          exchange.progress.stage = 'waiting for the answer';
          return void answer(quick);
        case 'refused':
          return void fail('connection refused');
        case 'reset':
          return void fail('connection reset');
        case 'noise':
          return void fail('not HTTP: Parse Error: Expected HTTP/');
        case 'slow':
          exchange.progress.stage = 'waiting for the answer';
          return void answer(inst.probeDelayMs ?? 120_000);
        case 'endless-1xx':
          exchange.progress.stage = 'waiting for the answer';
          exchange.progress.informational = 1_000;
          return;
        case 'endless-body':
          exchange.progress.stage = 'reading the body';
          exchange.progress.bodyBytes = 1;
          return;
        default:
          // hang, an upgrade kept or closed, headers that never end: no answer, ever.
          exchange.progress.stage = 'waiting for the answer';
          return;
      }
    });
}

/** Behaviours got's own timeout never ends (issue 8, point 1). */
const UNBOUNDED_FOR_GOT = new Set<ProbeBehaviour>([
  'upgrade-kept',
  'upgrade-closed',
  'endless-1xx',
]);

/**
 * The real HTTP prober (lib/probe.ts: its classification and its own deadline on the
 * container's virtual timers) over the virtual transport; or, with `hardDeadline: false`,
 * a prober that trusts the HTTP client's timeout the way main's did before the hardening.
 */
export function createModelProber(
  world: ProbeWorld,
  owner: Owner & { timers: Timers },
  options: ModelProberOptions = {},
): Prober {
  const transport = virtualTransport(world, owner);
  const real = createHttpProber({ loopbackOnly: true, timers: owner.timers, transport });
  const record = (prober: Prober) => {
    const once = recordProbes(prober, { ...world, now: world.scheduler.now });
    return world.alsoRecordIn
      ? recordProbes(once, { ...world, lastProbe: world.alsoRecordIn, now: world.scheduler.now })
      : once;
  };
  if (options.hardDeadline !== false) return record(real);
  // The HTTP client's timeout only: the prober's own deadline stands for it, except for the
  // behaviours that switch got's timers off, which never settle.
  return record({
    probe: (address, settings, opts) => {
      const inst = world.fleet.instanceAt(address);
      if (inst?.probeBehaviour && UNBOUNDED_FOR_GOT.has(inst.probeBehaviour)) {
        return new Promise(() => undefined);
      }
      return real.probe(address, settings, opts);
    },
  });
}

/** Wrap a prober (the HTTP one) to remember each instance's latest answer. */
export function recordProbes(
  inner: Prober,
  world: Pick<ProbeWorld, 'fleet' | 'lastProbe'> & { now(): number },
): Prober {
  return {
    async probe(address, settings, opts) {
      const result = await inner.probe(address, settings, opts);
      const inst = world.fleet.instanceAt(address);
      if (inst) world.lastProbe.set(inst.id, { at: world.now(), status: result.status });
      return result;
    },
  };
}
