/**
 * The virtual clock: a discrete-event scheduler. Events run in order of (time, sequence), so
 * two events at the same virtual millisecond run in the order they were scheduled and a run
 * is deterministic given its seed.
 *
 * Everything takes virtual time, and many things happen at once: an event's task is *started*,
 * not awaited. A gate invocation, a protect scan, an SDK call are chains of awaits on virtual
 * timers (`timers()`), each resumed by a later event. After the events of one instant have
 * run, the loop lets a macrotask turn pass (setImmediate) so every promise chain they woke
 * drains before time moves on; only then does the clock jump to the next event. Work that
 * waits on something real (an HTTP probe of a loopback worker in the sandbox) is registered
 * with `track()`: virtual time stands still until it settles.
 *
 * `now` is an arrow property so it can be handed to lib code as its Clock.
 */
import type { Timers } from '../lib/time.js';

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
  /** Errors thrown by tasks (a bug in the simulator or in the code it drives). */
  readonly failures: unknown[] = [];
  private readonly real = new Set<Promise<unknown>>();

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
      next = this.at(at, label, () => {
        if (stopped) return;
        arm(at + intervalMs);
        return task();
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

  /**
   * Virtual time stands still until `work` (something real: an HTTP request to a loopback
   * worker) settles. Returns `work`.
   */
  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.real.add(settled);
    void settled.then(() => this.real.delete(settled));
    return work;
  }

  /** Timers on this clock (lib/time.ts); `alive` false drops a timer when it comes due. */
  timers(alive?: () => boolean): Timers {
    return {
      now: this.now,
      setTimeout: (fn, ms) =>
        this.after(ms, 'timer', () => {
          if (!alive || alive()) fn();
        }),
      clearTimeout: (handle) => (handle as ScheduledEvent | undefined)?.cancel?.(),
    };
  }

  /** Resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, 'sleep', resolve));
  }

  /**
   * Let everything woken so far run: real work tracked, then one macrotask turn (every
   * microtask — every promise chain — drains before a macrotask runs).
   */
  async settle(): Promise<void> {
    do {
      while (this.real.size > 0) await Promise.race(this.real);
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.real.size > 0);
  }

  /** Run the events of the next instant, then let what they woke drain. false when none. */
  async step(): Promise<boolean> {
    this.dropCancelled();
    const first = this.heap[0];
    if (!first) return false;
    this.current = first.time;
    while (this.heap[0] && this.heap[0].time === this.current) {
      const entry = this.pop()!;
      if (entry.cancelled) continue;
      this.executed++;
      this.start(entry);
    }
    await this.settle();
    return true;
  }

  private start(entry: Entry): void {
    try {
      const result = entry.task();
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).catch((err: unknown) => this.failures.push(err));
      }
    } catch (err) {
      this.failures.push(err);
    }
  }

  /** Run every event due up to and including `endMs`, then set the clock to `endMs`. */
  async runUntil(endMs: number, options: RunOptions = {}): Promise<void> {
    await this.settle();
    for (;;) {
      if (options.stop?.() || this.failures.length > 0) return;
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
