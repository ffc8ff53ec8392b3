/**
 * A service's desired count, as a pure function (ecs-autoscale's rule):
 *
 *   running < min  → min
 *   running > max  → max            (a decrease: the seed's sign error made it an increase)
 *   otherwise      → the first event whose inclusive window [metric_min, metric_max]
 *                    (null = unbounded) contains the metric and keeps running + action
 *                    within [min, max] sets running + action
 *   no such event, or no metric → unchanged
 *
 * `change` is what the cluster planner counts: positive = tasks about to be added.
 */

export interface ScaleEvent {
  metricMin: number | null;
  metricMax: number | null;
  /** Tasks to add (positive) or remove (negative). */
  action: number;
}

export interface ServiceInput {
  name: string;
  runningCount: number;
  min: number;
  max: number;
  events: readonly ScaleEvent[];
  /** The metric's value this run; undefined when there is no metric or it could not be read. */
  metric?: number;
}

export interface ServicePlan {
  name: string;
  runningCount: number;
  desiredCount: number;
  /** desiredCount − runningCount. */
  change: number;
  reason: string;
}

export function inWindow(event: ScaleEvent, metric: number): boolean {
  return (
    (event.metricMin === null || metric >= event.metricMin) &&
    (event.metricMax === null || metric <= event.metricMax)
  );
}

export function planService(input: ServiceInput): ServicePlan {
  const { name, runningCount: running, min, max } = input;
  const plan = (desiredCount: number, reason: string): ServicePlan => ({
    name,
    runningCount: running,
    desiredCount,
    change: desiredCount - running,
    reason,
  });
  if (running < min) return plan(min, `${running} running, below min ${min}`);
  if (running > max) return plan(max, `${running} running, above max ${max}`);
  if (input.metric === undefined) {
    return plan(
      running,
      input.events.length ? 'no metric value: events not evaluated' : 'within min and max',
    );
  }
  const metric = input.metric;
  for (const [i, event] of input.events.entries()) {
    if (!inWindow(event, metric)) continue;
    const desired = running + event.action;
    if (desired < min || desired > max) continue;
    return plan(
      desired,
      `metric ${metric} matched event ${i + 1} (${describeWindow(event)}, action ${signed(event.action)})`,
    );
  }
  return plan(
    running,
    `metric ${metric} matched no event that stays within min ${min} and max ${max}`,
  );
}

function describeWindow(event: ScaleEvent): string {
  return `${event.metricMin ?? '-∞'}..${event.metricMax ?? '+∞'}`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
