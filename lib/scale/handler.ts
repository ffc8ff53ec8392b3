/**
 * The scale function's handler (ecs-autoscale), built from its dependencies
 * (functions/scale.ts builds them once per cold start; tests build them around moto).
 *
 * Event: the schedule's "Scheduled Event", `{}`, or `{ "dryRun": true }` (report what would
 * be done, change nothing). Each enabled cluster of clusters.yml gets one run (run.ts), one
 * after the other, inside the invocation's remaining time. A cluster that fails is reported
 * and logged at error level; the invocation only throws when the event itself is invalid —
 * the next scheduled run, a minute later, is the retry that matters.
 */
import { InvalidEventError } from '../errors.js';
import { Deadline, realTimers, type Timers } from '../time.js';
import type { ScaleConfig } from './config.js';
import { scaleCluster, type ClusterReport, type ScaleDeps } from './run.js';

/** Kept free at the end of an invocation: time to log and return before Lambda's timeout. */
export const SCALE_SAFETY_MS = 3_000;

export interface ScaleHandlerDeps extends ScaleDeps {
  config: ScaleConfig;
  timers?: Timers;
}

export interface ScaleResult {
  clusters: ClusterReport[];
}

interface Context {
  getRemainingTimeInMillis(): number;
}

export function parseScaleEvent(event: unknown): { dryRun?: boolean } {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidEventError('expected an object: {}, a scheduled event or { "dryRun": true }');
  }
  const e = event as Record<string, unknown>;
  if (e['detail-type'] === 'Scheduled Event' && e.source === 'aws.events') return {};
  const unknown = Object.keys(e).find((k) => k !== 'dryRun');
  if (unknown) throw new InvalidEventError('unknown field (a typo?)', unknown);
  if (e.dryRun !== undefined && typeof e.dryRun !== 'boolean') {
    throw new InvalidEventError('must be true or false', 'dryRun');
  }
  return e.dryRun === undefined ? {} : { dryRun: e.dryRun };
}

export function createScaleHandler(
  deps: ScaleHandlerDeps,
): (event: unknown, context?: Context) => Promise<ScaleResult> {
  const timers = deps.timers ?? realTimers;
  return async (event, context) => {
    const request = parseScaleEvent(event);
    const dryRun = request.dryRun ?? deps.config.dryRun;
    const deadline = context
      ? Deadline.after(context.getRemainingTimeInMillis() - SCALE_SAFETY_MS, timers)
      : Deadline.never(timers);
    const clusters: ClusterReport[] = [];
    for (const cluster of deps.config.clusters) {
      clusters.push(await scaleCluster(cluster, deps, { dryRun, deadline }));
    }
    return { clusters };
  };
}
