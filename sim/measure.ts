/**
 * Figures a benchmark reads off a finished simulation (virtual time, so they measure the
 * design — intervals, retries — not this machine's speed).
 *
 * - releaseLatencies: for each lifecycle action the gate completed while the instance was
 *   idle, how long after the worker went idle (or after the action began, if it was idle
 *   already) the CompleteLifecycleAction came.
 * - gateInvocationsPerHourOfHold: gate steps (Lambda invocations) per hour that instances
 *   spent in Terminating:Wait.
 */
import type { SimLifecycleAction } from './fleet.js';
import type { Simulation } from './simulation.js';

export interface ReleaseLatency {
  instanceId: string;
  /** Virtual ms when the worker went idle (or the action began, whichever is later). */
  idleAtMs: number;
  releasedAtMs: number;
  latencyMs: number;
}

/**
 * When the instance of a completed action became idle for good (or when the action began,
 * if it was idle already); undefined if the gate did not complete it, or it was busy or
 * silent at that moment (deadline, unreachable: no idle wait to measure).
 */
export function idleAt(sim: Simulation, action: SimLifecycleAction): number | undefined {
  const ended = action.ended;
  if (!ended || ended.by !== 'completed') return undefined;
  const inst = sim.fleet.instance(action.instanceId);
  if (!inst || !inst.answering) return undefined;
  const idleSince = inst.work.idleSince(ended.at);
  return idleSince === undefined ? undefined : Math.max(idleSince, action.startedAt);
}

export function releaseLatencies(sim: Simulation): ReleaseLatency[] {
  const out: ReleaseLatency[] = [];
  for (const action of sim.fleet.actions) {
    const idleAtMs = idleAt(sim, action);
    const ended = action.ended;
    if (idleAtMs === undefined || !ended) continue;
    out.push({
      instanceId: action.instanceId,
      idleAtMs,
      releasedAtMs: ended.at,
      latencyMs: ended.at - idleAtMs,
    });
  }
  return out;
}

export function gateInvocationsPerHourOfHold(sim: Simulation): number {
  let heldMs = 0;
  for (const action of sim.fleet.actions) {
    heldMs += (action.ended?.at ?? sim.now()) - action.startedAt;
  }
  return heldMs > 0 ? sim.steps.length / (heldMs / 3_600_000) : 0;
}

/** Nearest-rank percentile of `values` (p in 0..100); NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}
