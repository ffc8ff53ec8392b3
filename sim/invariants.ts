/**
 * What must hold after every simulated history (the property tests' checker). It reads only
 * what the simulated world recorded — terminations, lifecycle actions, SNS publishes,
 * protection removals, deliveries — never the gate's internals.
 *
 *  busy-terminated   No instance is let go while busy, unless the gate's deadline had
 *                    passed — and then its "deadline" notice was sent.
 *  outcome-notice    Every lifecycle action the gate completes ends with at least one
 *                    outcome notice that SNS accepted (released, released-unreachable,
 *                    deadline, ssm-failed, ended), and all of an action's outcome notices
 *                    carry one `outcome-id` (duplicates are recognisable). A failed Publish
 *                    does not count: the gate retries it through the recheck queue.
 *  idle-held         An idle instance is released within one recheck interval plus one step
 *                    (event latency, rounding), plus the redelivery delays of steps that
 *                    failed meanwhile, plus — with a pre-termination command — its run time
 *                    and one more interval to see it finish.
 *  unknown-unprotect Protection is only ever removed right after an "idle" answer (so never
 *                    after an unknown one).
 *  unsettled         Every action has ended and every message is delivered by the end.
 *  rejected-input    The gate never refuses an input the simulated AWS produced.
 *
 * How an action ended by the hook's own timeout is counted: the gate cannot see that
 * happen, so it has no notice to send. It is a violation (of outcome-notice, and of
 * busy-terminated if the worker was busy) unless the faults explain it —
 *   - the gate's chain for it was dead-lettered (the DLQ alarm is then the operators'
 *     notice), or
 *   - at least FAULT_TOLERANCE gate steps for it failed in a row just before: themis rides
 *     out fewer, and no gate can heartbeat through an outage longer than the hook allows.
 * These are counted in `deadLettered` and `faultExcused`, not hidden.
 *
 * One more exception, counted in `lostNotices`: the step that completed the action died
 * between CompleteLifecycleAction and Publish. Its redelivery finds the action gone and
 * cannot know it was the one that completed it; with no state outside the message, a
 * stateless gate gives at most one notice there, not exactly one.
 */
import { DEADLINE_MARGIN_SECONDS } from '../lib/gate/decide.js';
import { MAX_RECHECK_SECONDS } from '../lib/gate/config.js';
import type { SimLifecycleAction } from './fleet.js';
import { idleAt } from './measure.js';
import type { Simulation } from './simulation.js';

export const OUTCOME_EVENTS = [
  'released',
  'released-unreachable',
  'deadline',
  'ssm-failed',
  'ended',
] as const;

export type ViolationKind =
  | 'busy-terminated'
  | 'outcome-notice'
  | 'idle-held'
  | 'unknown-unprotect'
  | 'unsettled'
  | 'rejected-input';

export interface Violation {
  kind: ViolationKind;
  instanceId?: string;
  /** Virtual ms. */
  at?: number;
  message: string;
}

export interface CheckResult {
  violations: Violation[];
  /** Actions whose notice was lost to a crash between Complete and Publish (see above). */
  lostNotices: string[];
  /** Actions that ended by the hook's timeout after their chain was dead-lettered. */
  deadLettered: string[];
  /** Actions that ended by the hook's timeout after FAULT_TOLERANCE failed steps in a row. */
  faultExcused: string[];
}

/**
 * Failed gate steps in a row (throttled out, crashed, SendMessage failed…) after which a hook
 * timeout is the faults' doing rather than the gate's: themis promises to ride out fewer.
 * A deployment must leave room for that many attempts inside the HeartbeatTimeout — the
 * recheck interval plus FAULT_TOLERANCE − 1 redelivery delays (the queue's visibility
 * timeout) — or a single failure lets the hook time out.
 */
export const FAULT_TOLERANCE = 3;

/** Slack for "one step": EventBridge latency (≤ 2 s in the model) and whole-second rounding. */
export const STEP_SLACK_MS = 5_000;

export function checkInvariants(sim: Simulation): CheckResult {
  const violations: Violation[] = [];
  const lostNotices: string[] = [];
  const deadLettered: string[] = [];
  const faultExcused: string[] = [];
  const outcomeSet = new Set<string>(OUTCOME_EVENTS);

  // Notices SNS accepted: a failed Publish is retried by the gate, so it does not count.
  const outcomesOf = (instanceId: string) =>
    sim.topic.published.filter(
      (p) =>
        p.delivered &&
        p.instanceId === instanceId &&
        outcomeSet.has(p.notice.attributes.event ?? ''),
    );
  const deadLetteredChain = (instanceId: string) =>
    sim.events.deadLetters.some((d) => d.instanceId === instanceId) ||
    sim.recheckQueue.deadLetters.some((d) => d.instanceId === instanceId);
  const startMs = sim.scheduler.startMs;
  const when = (ms: number) => `${Math.round((ms - startMs) / 1000)} s`;

  for (const action of sim.fleet.actions) {
    const id = action.instanceId;
    if (!action.ended) {
      violations.push({
        kind: 'unsettled',
        instanceId: id,
        message: `lifecycle action of ${id} (started at ${when(action.startedAt)}) never ended`,
      });
      continue;
    }
    const ended = action.ended;
    const outcomes = outcomesOf(id);
    const events = outcomes.map((o) => o.notice.attributes.event);

    // outcome-notice
    if (ended.by === 'completed') {
      if (outcomes.length === 0) {
        const crashed = sim.steps.some(
          (s) =>
            s.instanceId === id &&
            s.at === ended.at &&
            s.verdict === 'crashed' &&
            s.crashedAfter === 'CompleteLifecycleAction',
        );
        // A crash between Complete and Publish is no excuse any more: the redelivered step
        // finds the action gone and sends an "ended" notice. Counted for the report.
        if (crashed) lostNotices.push(id);
        // Its chain in a dead-letter queue: the DLQ alarm is the operators' notice.
        if (deadLetteredChain(id)) deadLettered.push(id);
        else {
          violations.push({
            kind: 'outcome-notice',
            instanceId: id,
            at: ended.at,
            message: `${id} was completed (${ended.result}) at ${when(ended.at)} but no outcome notice was sent`,
          });
        }
      } else if (new Set(outcomes.map((o) => o.notice.attributes['outcome-id'])).size > 1) {
        violations.push({
          kind: 'outcome-notice',
          instanceId: id,
          at: ended.at,
          message: `${id} got ${outcomes.length} outcome notices with different outcome ids: ${events.join(', ')}`,
        });
      }
    } else {
      const failures = failedStepsInARow(sim, id, ended.at);
      if (deadLetteredChain(id)) deadLettered.push(id);
      else if (failures >= FAULT_TOLERANCE) faultExcused.push(id);
      else {
        violations.push({
          kind: 'outcome-notice',
          instanceId: id,
          at: ended.at,
          message: `${id}: the hook's ${ended.by} applied ${ended.result} at ${when(ended.at)} (started ${when(action.startedAt)}, ${action.heartbeats} heartbeats) while the gate's chain was alive, after only ${failures} failed step${failures === 1 ? '' : 's'} in a row`,
        });
      }
      // The gate may find out and say so ("ended"); it must not claim it completed the action.
      if (outcomes.some((o) => o.notice.attributes.event !== 'ended')) {
        violations.push({
          kind: 'outcome-notice',
          instanceId: id,
          at: ended.at,
          message: `${id} ended by ${ended.by} but the gate also sent ${events.join(', ')}`,
        });
      }
    }

    // idle-held
    const heldTooLong = checkIdleHeld(sim, action);
    if (heldTooLong) violations.push(heldTooLong);
  }

  // busy-terminated
  for (const t of sim.fleet.terminations) {
    if (!t.busy) continue;
    const action = t.action;
    // The deadline's notice — or, when the step that completed died before its Publish, the
    // retry's "ended" notice, which says the gate had decided on the deadline.
    const deadlineNotice =
      outcomesOf(t.instanceId).some(
        (p) => p.notice.attributes.event === 'deadline' || decidedDeadline(p.notice.message),
      ) || lostNotices.includes(t.instanceId);
    // A hook timeout the faults excuse (see above) cuts work no gate could have saved.
    if (deadLettered.includes(t.instanceId) || faultExcused.includes(t.instanceId)) continue;
    if (action && action.ended?.by === 'completed' && deadlineNotice) {
      const limit = deadlineOf(action, sim);
      if (t.at >= limit - 1000) continue;
      violations.push({
        kind: 'busy-terminated',
        instanceId: t.instanceId,
        at: t.at,
        message: `${t.instanceId} was cut at "deadline" at ${when(t.at)}, before its deadline ${when(limit)}`,
      });
      continue;
    }
    violations.push({
      kind: 'busy-terminated',
      instanceId: t.instanceId,
      at: t.at,
      message: `${t.instanceId} was terminated while busy at ${when(t.at)} (${t.cause}; ${
        action?.ended
          ? action.ended.by === 'completed'
            ? `completed with ${action.ended.result}`
            : `${action.ended.by} → ${action.ended.result}`
          : 'no lifecycle hook'
      })`,
    });
  }

  // unknown-unprotect
  for (const u of sim.unprotections) {
    if (u.lastProbe?.status === 'idle') continue;
    violations.push({
      kind: 'unknown-unprotect',
      instanceId: u.instanceId,
      at: u.at,
      message: `protection removed from ${u.instanceId} at ${when(u.at)} after a probe that said ${u.lastProbe?.status ?? 'nothing'}`,
    });
  }

  // unsettled / rejected-input
  if (sim.events.inFlight > 0 || sim.recheckQueue.inFlight > 0) {
    violations.push({
      kind: 'unsettled',
      message: `${sim.events.inFlight + sim.recheckQueue.inFlight} gate messages still in flight at the end`,
    });
  }
  for (const s of sim.steps) {
    if (s.verdict !== 'drop') continue;
    violations.push({
      kind: 'rejected-input',
      ...(s.instanceId ? { instanceId: s.instanceId } : {}),
      at: s.at,
      message: `the gate refused a ${s.channel} message: ${s.error ?? ''}`,
    });
  }

  return { violations, lostNotices, deadLettered, faultExcused };
}

/** Gate steps for this instance that failed, counted back from `atMs` to the last good one. */
function failedStepsInARow(sim: Simulation, instanceId: string, atMs: number): number {
  let n = 0;
  for (let i = sim.steps.length - 1; i >= 0; i--) {
    const s = sim.steps[i]!;
    if (s.instanceId !== instanceId || s.at > atMs) continue;
    if (s.verdict === 'ok') break;
    n++;
  }
  return n;
}

/** When the gate stops waiting for this action (mirrors the documented rule). */
function deadlineOf(action: SimLifecycleAction, sim: Simulation): number {
  const hook = sim.fleet.hookOf(action.group);
  const global = Math.min(48 * 3600, 100 * (hook?.heartbeatTimeoutSeconds ?? 3600));
  const limit = Math.min(
    sim.gateConfig.maxWaitSeconds ?? Infinity,
    global - DEADLINE_MARGIN_SECONDS,
  );
  // The gate counts from the event's time, which has whole seconds.
  return Math.floor(action.startedAt / 1000) * 1000 + Math.max(0, limit) * 1000;
}

/** The longest a recheck waits for this hook (jitter only ever shortens it). */
export function recheckIntervalMs(recheckSeconds: number, heartbeatTimeoutSeconds: number): number {
  return (
    Math.max(
      1,
      Math.min(recheckSeconds, MAX_RECHECK_SECONDS, Math.floor(heartbeatTimeoutSeconds / 2)),
    ) * 1000
  );
}

function checkIdleHeld(sim: Simulation, action: SimLifecycleAction): Violation | undefined {
  const idleFrom = idleAt(sim, action);
  const ended = action.ended;
  if (idleFrom === undefined || !ended) return undefined;
  const held = ended.at - idleFrom;
  const hook = sim.fleet.hookOf(action.group);
  const interval = recheckIntervalMs(
    sim.gateConfig.recheckSeconds,
    hook?.heartbeatTimeoutSeconds ?? 3600,
  );
  const retries = sim.journal.entries
    .filter(
      (e) =>
        e.kind === 'gate-retry' &&
        e.instanceId === action.instanceId &&
        e.at <= ended.at &&
        e.at + Number(e.data?.retryInMs ?? 0) >= idleFrom,
    )
    .reduce((sum, e) => sum + Number(e.data?.retryInMs ?? 0), 0);
  const ssm = sim.gateConfig.ssm ? sim.commands.runSeconds * 1000 + interval : 0;
  const allowed = interval + STEP_SLACK_MS + retries + ssm;
  if (held <= allowed) return undefined;
  const s = (ms: number) => `${Math.round(ms / 1000)} s`;
  return {
    kind: 'idle-held',
    instanceId: action.instanceId,
    at: ended.at,
    message: `${action.instanceId} was idle for ${s(held)} before its release (allowed ${s(allowed)}: interval ${s(interval)}, redeliveries ${s(retries)}${ssm ? `, command ${s(ssm)}` : ''})`,
  };
}

/** An "ended" notice's facts say the step had decided on the deadline. */
function decidedDeadline(message: string): boolean {
  const facts = message.split('\n\nFacts:\n')[1];
  if (!facts) return false;
  try {
    const parsed = JSON.parse(facts) as { event?: string; decided?: string };
    return parsed.event === 'ended' && (parsed.decided ?? '').startsWith('deadline');
  } catch {
    return false;
  }
}
