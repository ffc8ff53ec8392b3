/**
 * Time as a dependency: a clock and timers that production takes from Node and the fleet
 * simulator replaces with a virtual clock, so that the same deadline code runs in both.
 *
 * The rule these helpers exist for: every await that crosses a process boundary settles by
 * a deadline we own — whatever the other side does (never answers, answers slowly, ignores
 * an abort). `Deadline.run` races the work against our own timer and aborts the work's
 * signal when the timer wins; it never relies on a library's own timeout.
 *
 * Deadline timers are deliberately *not* unref'd: a pending deadline keeps the event loop
 * alive, so a handler whose socket was closed under it still settles (with a timeout)
 * instead of letting the loop drain with the handler unsettled.
 */
import { ThemisError } from './errors.js';

export interface Timers {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Work did not settle by its deadline; `what` names it ("probe 127.0.1.4", "Publish"). */
export class DeadlineExceededError extends ThemisError {
  override name = 'DeadlineExceededError';
  constructor(
    readonly what: string,
    readonly budgetMs: number,
  ) {
    super(`${what}: no answer within ${Math.max(0, Math.round(budgetMs))} ms`);
  }
}

/** Options every port call accepts: a signal that aborts the call when its deadline passes. */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * A point in time by which some work must settle. Sub-deadlines are never later than their
 * parent (`within`), so a step's calls all end inside the invocation's remaining time.
 */
export class Deadline {
  private constructor(
    /** Epoch milliseconds, on `timers`' clock. */
    readonly atMs: number,
    readonly timers: Timers,
  ) {}

  /** A deadline `ms` from now. */
  static after(ms: number, timers: Timers = realTimers): Deadline {
    return new Deadline(timers.now() + ms, timers);
  }

  /** A deadline that never passes (tests and tools with no Lambda clock). */
  static never(timers: Timers = realTimers): Deadline {
    return new Deadline(Number.POSITIVE_INFINITY, timers);
  }

  remainingMs(): number {
    return this.atMs - this.timers.now();
  }

  passed(): boolean {
    return this.remainingMs() <= 0;
  }

  /** This deadline or `ms` from now, whichever comes first. */
  within(ms: number): Deadline {
    const at = Math.min(this.atMs, this.timers.now() + ms);
    return new Deadline(at, this.timers);
  }

  /** This deadline brought forward by `ms` (time kept back for what comes after). */
  less(ms: number): Deadline {
    return new Deadline(this.atMs - ms, this.timers);
  }

  /**
   * Run `work` with an AbortSignal that aborts at this deadline, and settle by the deadline
   * whatever `work` does: a DeadlineExceededError when the deadline wins (the signal is
   * aborted at the same moment, so a well-behaved callee stops too).
   */
  run<T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const budgetMs = this.remainingMs();
    const controller = new AbortController();
    if (budgetMs <= 0) {
      const err = new DeadlineExceededError(what, 0);
      controller.abort(err);
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = Number.isFinite(budgetMs)
        ? this.timers.setTimeout(() => {
            if (settled) return;
            settled = true;
            const err = new DeadlineExceededError(what, budgetMs);
            controller.abort(err);
            reject(err);
          }, budgetMs)
        : undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.timers.clearTimeout(timer);
        fn();
      };
      let started: Promise<T>;
      try {
        started = work(controller.signal);
      } catch (err) {
        finish(() => reject(err));
        return;
      }
      started.then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }

  /** Resolve after `ms`, or at this deadline if sooner (never rejects). */
  sleep(ms: number): Promise<void> {
    const wait = Math.max(0, Math.min(ms, this.remainingMs()));
    return new Promise((resolve) => {
      this.timers.setTimeout(resolve, wait);
    });
  }
}
