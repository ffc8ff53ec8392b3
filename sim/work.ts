/**
 * What a simulated worker is doing over virtual time: a sorted list of busy intervals
 * ("work units"). Between them it is idle. Plain data, so a property test can ask "was this
 * instance busy at 10:42?" and a loopback HTTP worker can answer BUSY or IDLE from the same
 * schedule at the scheduler's current time.
 */
import type { Random } from './random.js';

export interface WorkUnit {
  /** Virtual ms, inclusive. */
  startMs: number;
  /** Virtual ms, exclusive. */
  endMs: number;
}

export class WorkSchedule {
  readonly units: readonly WorkUnit[];

  constructor(units: readonly WorkUnit[] = []) {
    const sorted = [...units]
      .filter((u) => u.endMs > u.startMs)
      .sort((a, b) => a.startMs - b.startMs);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.startMs < sorted[i - 1]!.endMs) throw new Error('work units overlap');
    }
    this.units = sorted;
  }

  static idle(): WorkSchedule {
    return new WorkSchedule();
  }

  /** The unit running at `t`, if any. */
  unitAt(t: number): WorkUnit | undefined {
    // Schedules are short (a handful of units): a scan is cheaper than a search.
    for (const u of this.units) {
      if (u.startMs > t) return undefined;
      if (t < u.endMs) return u;
    }
    return undefined;
  }

  isBusy(t: number): boolean {
    return this.unitAt(t) !== undefined;
  }

  /** Start of the idle stretch that contains `t` (−Infinity if idle from the start); undefined when busy at `t`. */
  idleSince(t: number): number | undefined {
    let since = -Infinity;
    for (const u of this.units) {
      if (u.startMs > t) break;
      if (t < u.endMs) return undefined;
      since = u.endMs;
    }
    return since;
  }

  /** The next moment after `t` at which busy/idle changes, if any. */
  nextChange(t: number): number | undefined {
    for (const u of this.units) {
      if (u.startMs > t) return u.startMs;
      if (t < u.endMs) return u.endMs;
    }
    return undefined;
  }

  /** A copy with one more unit (for scenarios: "starts a 10-minute job now"). */
  with(unit: WorkUnit): WorkSchedule {
    return new WorkSchedule([...this.units, unit]);
  }

  /** A copy that is idle from `t` on (the unit running at `t` is cut there). */
  cutAt(t: number): WorkSchedule {
    return new WorkSchedule(
      this.units
        .filter((u) => u.startMs < t)
        .map((u) => ({ startMs: u.startMs, endMs: Math.min(u.endMs, t) })),
    );
  }
}

export interface RandomWorkOptions {
  fromMs: number;
  /** No unit starts after this. */
  untilMs: number;
  minUnitMs: number;
  maxUnitMs: number;
  minGapMs: number;
  maxGapMs: number;
  /** Probability that the worker is already busy at `fromMs`. */
  busyAtStart?: number;
}

/** Alternating idle gaps and work units, drawn from `random`. */
export function randomWork(random: Random, o: RandomWorkOptions): WorkSchedule {
  const units: WorkUnit[] = [];
  let t = o.fromMs;
  if (!random.chance(o.busyAtStart ?? 0.5)) t += random.int(o.minGapMs, o.maxGapMs);
  while (t <= o.untilMs) {
    const end = t + random.int(o.minUnitMs, o.maxUnitMs);
    units.push({ startMs: t, endMs: end });
    t = end + random.int(o.minGapMs, o.maxGapMs);
  }
  return new WorkSchedule(units);
}
