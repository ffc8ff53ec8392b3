/**
 * The virtual clock: a discrete-event scheduler. Events run in order of (time, sequence), so
 * two events at the same virtual millisecond run in the order they were scheduled and a run
 * is deterministic. Each event is awaited before the next starts, and virtual time does not
 * move while one runs: a gate step or a protect scan — even one that makes real HTTP probes
 * to loopback workers — takes zero virtual time, and everything it reads (worker schedules,
 * lifecycle deadlines, `now()`) is the same from its first line to its last.
 *
 * `now` is an arrow property so it can be handed to lib code as its Clock.
 */

export type Task = () => void | Promise<void>;

interface Entry {
  time: number;
  seq: number;
  label: string;
  task: Task;
  cancelled: boolean;
}

export interface ScheduledEvent {
  readonly time: number;
  readonly label: string;
  cancel(): void;
}

export interface RunOptions {
  /**
   * Called before each event with its virtual time; the sandbox sleeps here so virtual time
   * keeps pace with the wall clock (compressed). Property tests pass nothing: full speed.
   */
  pace?: (virtualMs: number) => Promise<void>;
  /** Stop early (checked before each event). */
  stop?: () => boolean;
}

/** 2025-01-01T00:00:00Z: a fixed start so logs and notices of a replayed seed are identical. */
export const DEFAULT_START_MS = Date.UTC(2025, 0, 1);

export class Scheduler {
  private heap: Entry[] = [];
  private seq = 0;
  private current: number;
  /** Events run so far (a cheap measure of a history's size). */
  executed = 0;

  constructor(readonly startMs = DEFAULT_START_MS) {
    this.current = startMs;
  }

  /** Virtual milliseconds since the epoch. */
  now = (): number => this.current;

  /** Virtual milliseconds since the scheduler started. */
  elapsedMs(): number {
    return this.current - this.startMs;
  }

  at(timeMs: number, label: string, task: Task): ScheduledEvent {
    if (!Number.isFinite(timeMs)) throw new Error(`cannot schedule ${label} at ${timeMs}`);
    // Nothing can happen in the past: an event "at" an earlier time runs now, after the
    // events already due now.
    const entry: Entry = {
      time: Math.max(Math.round(timeMs), this.current),
      seq: this.seq++,
      label,
      task,
      cancelled: false,
    };
    this.push(entry);
    return {
      time: entry.time,
      label,
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  after(delayMs: number, label: string, task: Task): ScheduledEvent {
    return this.at(this.current + Math.max(0, delayMs), label, task);
  }

  /** Run `task` every `intervalMs`, first at `firstAtMs` (default: one interval from now). */
  every(
    intervalMs: number,
    label: string,
    task: Task,
    firstAtMs = this.current + intervalMs,
  ): { cancel(): void } {
    if (!(intervalMs > 0)) throw new Error(`interval of ${label} must be positive`);
    let stopped = false;
    let next: ScheduledEvent | undefined;
    const arm = (at: number) => {
      next = this.at(at, label, async () => {
        if (stopped) return;
        arm(at + intervalMs);
        await task();
      });
    };
    arm(firstAtMs);
    return {
      cancel: () => {
        stopped = true;
        next?.cancel();
      },
    };
  }

  /** Events still waiting (cancelled ones excluded). */
  pending(): number {
    return this.heap.reduce((n, e) => n + (e.cancelled ? 0 : 1), 0);
  }

  /** Time of the next live event, if any. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.time;
  }

  /** Run the next event. false when there is none. */
  async step(): Promise<boolean> {
    this.dropCancelled();
    const entry = this.pop();
    if (!entry) return false;
    this.current = entry.time;
    this.executed++;
    await entry.task();
    return true;
  }

  /** Run every event due up to and including `endMs`, then set the clock to `endMs`. */
  async runUntil(endMs: number, options: RunOptions = {}): Promise<void> {
    for (;;) {
      if (options.stop?.()) return;
      const next = this.peekTime();
      if (next === undefined || next > endMs) break;
      if (options.pace) await options.pace(next);
      await this.step();
    }
    if (endMs > this.current) {
      if (options.pace) await options.pace(endMs);
      this.current = endMs;
    }
  }

  async runFor(durationMs: number, options: RunOptions = {}): Promise<void> {
    await this.runUntil(this.current + durationMs, options);
  }

  // A binary min-heap on (time, seq).
  private less(a: Entry, b: Entry): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private dropCancelled(): void {
    while (this.heap[0]?.cancelled) this.pop();
  }
}
