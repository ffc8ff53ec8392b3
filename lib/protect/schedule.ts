/**
 * Sub-minute freshness: several scans inside one scheduled invocation, spaced evenly over
 * the schedule's period, never overlapping, and never started when they could not finish
 * before the function's deadline.
 */
import type { Clock, Log } from '../ports.js';

/** The schedule fires once a minute (EventBridge rate(1 minute), the smallest rate). */
export const SCHEDULE_PERIOD_MS = 60_000;
/**
 * Kept free at the end of an invocation on top of one probe timeout: time for the last
 * SetInstanceProtection calls, publishing metrics and returning before Lambda's timeout.
 */
export const DEADLINE_SAFETY_MS = 3_000;

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ScanLoopOptions<T> {
  /** How many scans to spread over the period (the first starts at once). */
  count: number;
  periodMs?: number;
  /** Time left before the deadline, as of now (context.getRemainingTimeInMillis). */
  remainingMs: () => number;
  /** Time to keep unused before the deadline: at least one probe timeout + DEADLINE_SAFETY_MS. */
  marginMs: number;
  clock: Clock;
  sleep: Sleep;
  log: Log;
  scan: (index: number) => Promise<T>;
}

/** When scan `index` of `count` is due, relative to the first. */
export function scanOffsetMs(index: number, count: number, periodMs = SCHEDULE_PERIOD_MS): number {
  return Math.round((index * periodMs) / count);
}

/**
 * Run up to `count` scans. Scan i is due at offset i·period/count; it waits for that moment
 * (or starts at once when the previous scan ran late). It is not started when the time it
 * would need — the longest scan so far — does not fit before the deadline minus the margin.
 */
export async function runScans<T>(options: ScanLoopOptions<T>): Promise<T[]> {
  const { count, clock, sleep, log } = options;
  const periodMs = options.periodMs ?? SCHEDULE_PERIOD_MS;
  const start = clock();
  const results: T[] = [];
  let longestMs = 0;
  for (let i = 0; i < count; i++) {
    const waitMs = Math.max(0, start + scanOffsetMs(i, count, periodMs) - clock());
    const spareMs = options.remainingMs() - waitMs - options.marginMs - longestMs;
    if (spareMs < 0) {
      const fields = {
        scan: i + 1,
        of: count,
        remainingMs: options.remainingMs(),
        waitMs,
        marginMs: options.marginMs,
        expectedMs: longestMs,
      };
      if (i === 0) log.error('no time for even one scan: raise the function timeout', fields);
      else log.warn('scan not started: it would not finish before the deadline', fields);
      break;
    }
    if (waitMs > 0) await sleep(waitMs);
    const began = clock();
    results.push(await options.scan(i));
    longestMs = Math.max(longestMs, clock() - began);
  }
  return results;
}
