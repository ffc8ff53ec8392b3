/**
 * What must hold after every simulated history (the property tests' checker). It reads only
 * what the simulated world recorded — terminations, lifecycle actions and their heartbeats,
 * SNS publishes, Auto Scaling requests, invocations, deliveries, the injected faults — never
 * the gate's internals.
 *
 *  busy-terminated   No busy instance is terminated while AWS was reachable and the hook's
 *                    deadline had not passed: every busy termination is either at or past
 *                    the gate's deadline (with its notice) or the hook's global timeout, or
 *                    explained by an injected fault.
 *  outcome-notice    Every lifecycle action ends with at least one outcome notice that SNS
 *                    accepted (a crash between CompleteLifecycleAction and Publish included:
 *                    nothing excuses it but an SNS outage longer than the deploy's budget).
 *                    Exempt by design: a launch on a group without themis:launch-gate=true,
 *                    which themis lets go on at once (CONTINUE, logged, no notice).
 *  duplicate-notice  …and normally exactly one: all of an action's outcome notices carry one
 *                    `outcome-id` (a duplicate is recognisable), and a second one needs an
 *                    injected fault that explains it (a duplicate delivery, a killed
 *                    container, an outage, a throttling storm, contention).
 *  heartbeat-gap     No gap between an action's start, its heartbeats and its end reaches the
 *                    hook's HeartbeatTimeout (that is the hook timing out under a live hold).
 *  request-rate      themis's Auto Scaling requests (every attempt, throttled ones too) stay
 *                    within THEMIS_AUTO_SCALING_BUDGET (sim/sdk.ts) in every second and every
 *                    minute.
 *  scan-stalled      No protect invocation runs into the function's timeout (nothing an
 *                    instance does may stall a scan) unless an outage or throttling storm
 *                    overlapped it.
 *  idle-held         An idle instance is released within one recheck interval plus one step
 *                    (the function's timeout), plus a visibility timeout per failed delivery
 *                    and Lambda's async retry delays meanwhile, plus a command's run time.
 *  unknown-unprotect Protection is only ever removed right after an "idle" answer.
 *  unsettled         Every action has ended and every message is delivered by the end.
 *  rejected-input    The gate never refuses an input the simulated AWS produced.
 *  launch-ready      The launch gate lets a launch go on (CONTINUE by its own completion) only
 *                    once the instance's worker answers, on a group tagged themis:launch-gate.
 *  outcome-passage   Every outcome notice says where the action took the instance: its facts'
 *                    passage is the one Auto Scaling's event described (an instance going back
 *                    to the warm pool is never reported as terminated, a launch never as a
 *                    termination), and when themis's ABANDON left the instance retained, its
 *                    notices name the Retained state Auto Scaling keeps it in
 *                    (Terminating:Retained, or Warmed:Pending:Retained on a warm-pool return).
 *  retained-left     Retention (sim/retain.ts): no instance is left in Terminating:Retained
 *                    at the end while it answers IDLE and protect runs. With RETAIN on a
 *                    retaining group the gate's deadline excuses no busy termination, and on
 *                    a group that does not retain it excuses only a CONTINUE (never a silent
 *                    ABANDON); a retained instance terminated while busy is a violation
 *                    unless its work started after protect's final idle answer.
 *
 * Excused cases: only an injected fault explains a breach, and the excuse names it —
 *   - an outage of a service the gate needs (Auto Scaling, EC2, SQS; SNS for notices), or a
 *     throttling storm, longer than the deploy's budget — FAILED_STEPS_RIDDEN (lib/gate/
 *     budget.ts) failed steps, each costing the recheck queue's visibility timeout — and
 *     overlapping the HeartbeatTimeout before the breach;
 *   - more than FAILED_STEPS_RIDDEN failed gate steps in a row for that instance, every one
 *     of them killed (an injected crash) or failed during an outage or storm;
 *   - the hook deleted by an operator (Auto Scaling lets its instances go at once);
 *   - the group in dry run when the action began (themis was told to change nothing);
 *   - the gate's own deadline (maxWait, the hook's global timeout) reached, with its notice.
 * Everything else is a violation.
 */
import {
  documentedGlobalTimeoutSeconds,
  LAUNCHING,
  TERMINATING_RETAINED,
} from '../lib/aws/facts.js';
import { LAUNCH_GATE_TAG } from '../lib/gate/launch.js';
import { RETAINED_RELEASED_EVENT } from '../lib/retain/notice.js';
import {
  AFTER_PROBE_RESERVE_MS,
  FAILED_STEPS_RIDDEN,
  MAX_PROBE_TIMEOUT_MS,
  stepBudgetMs,
} from '../lib/gate/budget.js';
import { DEADLINE_MARGIN_SECONDS } from '../lib/gate/decide.js';
import { MAX_RECHECK_SECONDS } from '../lib/gate/config.js';
import { outcomeId } from '../lib/gate/notices.js';
import type { SimLifecycleAction } from './fleet.js';
import { idleAt } from './measure.js';
import type { InvocationRecord } from './lambda.js';
import { THEMIS_AUTO_SCALING_BUDGET, type Service } from './sdk.js';
import { gateConfigOf, type ProbeAnswer, type Simulation } from './simulation.js';

export type ViolationKind =
  | 'busy-terminated'
  | 'outcome-notice'
  | 'duplicate-notice'
  | 'heartbeat-gap'
  | 'request-rate'
  | 'scan-stalled'
  | 'idle-held'
  | 'unknown-unprotect'
  | 'unsettled'
  | 'rejected-input'
  | 'outcome-passage'
  | 'launch-ready'
  | 'retained-left';

export interface Violation {
  kind: ViolationKind;
  instanceId?: string;
  /** Virtual ms. */
  at?: number;
  message: string;
}

export interface Excuse {
  kind: ViolationKind;
  instanceId: string;
  /** The injected fault (or deliberate setting) that explains it. */
  cause: string;
}

export interface CheckResult {
  violations: Violation[];
  excused: Excuse[];
  /** Actions that got more than one outcome notice (allowed: at least once, normally once). */
  duplicateNotices: number;
  /** The busiest second and minute of Auto Scaling requests. */
  peakAutoScalingPerSecond: number;
  peakAutoScalingPerMinute: number;
}

/** Not outcomes: the "holding" courtesy notice and a bad-settings error. */
const NOT_OUTCOMES = new Set(['holding', 'error', RETAINED_RELEASED_EVENT]);
const DRY_RUN_TAG = 'themis:dry-run';

/** Slack for "one step": EventBridge latency, SQS poll lag and whole-second rounding. */
export const STEP_SLACK_MS = 5_000;

/** The deploy's budget for an outage: FAILED_STEPS_RIDDEN failed steps of one visibility timeout. */
export function outageBudgetMs(sim: Simulation): number {
  return FAILED_STEPS_RIDDEN * sim.recheckQueue.options.visibilityTimeoutSeconds * 1000;
}

function minutes(ms: number): string {
  return `${Math.round(ms / 6000) / 10} min`;
}

/** Auto Scaling, EC2 and SQS always; SSM too when a pre-termination command is configured. */
function servicesTheGateNeeds(sim: Simulation): Service[] {
  const ssm = gateConfigOf(sim.initialGateEnv).ssm !== undefined;
  return ['autoscaling', 'ec2', 'sqs', ...(ssm ? (['ssm'] as const) : [])];
}

/** Why an action may have lost its hold in the window [fromMs, toMs], if an injected fault explains it. */
export function explainLostHold(
  sim: Simulation,
  instanceId: string,
  fromMs: number,
  toMs: number,
  services: readonly Service[] = servicesTheGateNeeds(sim),
): string | undefined {
  const budget = outageBudgetMs(sim);
  for (const o of sim.account.outages) {
    if (!services.includes(o.service)) continue;
    if (o.toMs - o.fromMs > budget && o.fromMs < toMs && o.toMs > fromMs) {
      return `${o.service} outage longer than the budget (${minutes(o.toMs - o.fromMs)} > ${minutes(budget)})`;
    }
  }
  for (const s of sim.account.storms) {
    if (s.toMs - s.fromMs > budget && s.fromMs < toMs && s.toMs > fromMs) {
      return `throttling storm longer than the budget (${minutes(s.toMs - s.fromMs)} > ${minutes(budget)})`;
    }
  }
  const failures = failedRunBefore(sim, instanceId, toMs);
  if (failures.length > FAILED_STEPS_RIDDEN) {
    const causes = failures.map((f) => injectedCause(sim, f));
    if (causes.every((c) => c !== undefined)) {
      const counts = new Map<string, number>();
      for (const c of causes) counts.set(c!, (counts.get(c!) ?? 0) + 1);
      const named = [...counts].sort(([a], [b]) => a.localeCompare(b));
      return `more than ${FAILED_STEPS_RIDDEN} failed steps in a row: ${named.map(([c, n]) => `${c} ×${n}`).join(', ')}`;
    }
  }
  return undefined;
}

/** Gate invocations for this instance that failed, back from `atMs` to the last good one. */
function failedRunBefore(sim: Simulation, instanceId: string, atMs: number): InvocationRecord[] {
  const run: InvocationRecord[] = [];
  const mine = sim.gate.invocations.filter(
    (i) => i.instanceIds?.includes(instanceId) && i.startedAt <= atMs,
  );
  for (let k = mine.length - 1; k >= 0; k--) {
    const inv = mine[k]!;
    if (inv.endedAt === undefined) continue;
    if (!failedFor(inv, instanceId, sim)) break;
    run.push(inv);
  }
  return run;
}

function failedFor(inv: InvocationRecord, instanceId: string, sim: Simulation): boolean {
  if (inv.result !== 'ok') return true;
  if (!inv.failedItems?.length) return false;
  const failedIds = new Set(inv.failedItems);
  return sim.recheckQueue.messages.some((m) => failedIds.has(m.id) && m.instanceId === instanceId);
}

/** The faults injected into a history that can duplicate a step, named; undefined if none. */
function injectedFaultsOf(sim: Simulation): string | undefined {
  const f = sim.options.faults ?? {};
  const named = [
    f.duplicateEvent ? 'duplicate events' : '',
    f.duplicateRecheck ? 'duplicate rechecks' : '',
    sim.gate.invocations.some((i) => i.result === 'crashed') ? 'Lambda killed' : '',
    f.outages?.length ? 'outages' : '',
    f.storms?.length ? 'throttling storms' : '',
    f.contention ? 'ResourceContention' : '',
  ].filter(Boolean);
  return named.length ? `a fault that repeats a step (${named.join(', ')})` : undefined;
}

/** The injected fault a failed invocation owes its failure to, if any. */
function injectedCause(sim: Simulation, inv: InvocationRecord): string | undefined {
  if (inv.result === 'crashed') return 'Lambda killed';
  const from = inv.startedAt;
  const to = inv.endedAt ?? from;
  // An ECS outage fails no gate step (ECS mode holds through it): it explains nothing here.
  const outage = sim.account.outages.find(
    (o) => o.service !== 'ecs' && o.fromMs < to && o.toMs > from,
  );
  if (outage) return `${outage.service} outage`;
  if (sim.account.storms.some((s) => s.fromMs < to && s.toMs > from)) return 'throttling storm';
  return undefined;
}

export function checkInvariants(sim: Simulation): CheckResult {
  const violations: Violation[] = [];
  const excused: Excuse[] = [];
  const startMs = sim.scheduler.startMs;
  const when = (ms: number) => `${Math.round((ms - startMs) / 1000)} s`;
  const config = gateConfigOf(sim.gateEnv);
  let duplicateNotices = 0;

  const outcomesOf = (instanceId: string) =>
    sim.published.filter(
      (p) => p.instanceId === instanceId && !NOT_OUTCOMES.has(p.notice.attributes.event ?? ''),
    );
  const hookDeleted = (group: string) =>
    sim.journal.entries.some(
      (e) => e.kind === 'setting' && e.group === group && e.data?.fault === 'hook-deleted',
    );
  // themis pins an action's mode when its chain first runs: dry run then (or when the action
  // began) is the operator's order to change nothing. A first step that would start in dry run
  // reads the group's tags uncached (lib/gate/step.ts), so "then" is the first step's own span
  // (its budget before its decision), not the container cache's GROUP_TAGS_TTL_MS.
  const dryRunAtStart = (a: SimLifecycleAction) => {
    if (a.tagsAtStart[DRY_RUN_TAG] === 'true') return true;
    // This action's first step: a warm-pool instance has several actions (into the pool, out).
    const first = sim.steps.find((s) => s.instanceId === a.instanceId && s.at >= a.startedAt);
    if (!first) return false;
    const from = first.at - stepBudgetMs(MAX_PROBE_TIMEOUT_MS);
    return (
      sim.fleet.tagAt(a.group, DRY_RUN_TAG, from) === 'true' ||
      sim.fleet.tagChanges.some(
        (c) =>
          c.group === a.group &&
          c.key === DRY_RUN_TAG &&
          c.value === 'true' &&
          c.at > from &&
          c.at <= first.at,
      )
    );
  };
  const deadLettered = (instanceId: string) =>
    sim.recheckQueue.deadLetters().some((m) => m.instanceId === instanceId) ||
    sim.events.deadLetters().some((d) => d.instanceId === instanceId);

  for (const action of sim.fleet.actions) {
    const id = action.instanceId;
    const ended = action.ended;
    if (!ended) {
      violations.push({
        kind: 'unsettled',
        instanceId: id,
        message: `lifecycle action of ${id} (started at ${when(action.startedAt)}) never ended`,
      });
      continue;
    }
    const htMs = action.heartbeatTimeoutSeconds * 1000;

    // heartbeat-gap
    const beats = [action.startedAt, ...action.heartbeatTimes, ended.at];
    let widest = 0;
    let widestAt = action.startedAt;
    for (let i = 1; i < beats.length; i++) {
      if (beats[i]! - beats[i - 1]! > widest) {
        widest = beats[i]! - beats[i - 1]!;
        widestAt = beats[i - 1]!;
      }
    }
    let lostHold: string | undefined;
    if (widest >= htMs) {
      lostHold = dryRunAtStart(action)
        ? 'dry run when the chain began'
        : explainLostHold(sim, id, widestAt, widestAt + widest);
      if (lostHold) excused.push({ kind: 'heartbeat-gap', instanceId: id, cause: lostHold });
      else {
        const failures = failedRunBefore(sim, id, ended.at);
        violations.push({
          kind: 'heartbeat-gap',
          instanceId: id,
          at: widestAt + widest,
          message: `${id}: no heartbeat for ${Math.round(widest / 1000)} s from ${when(widestAt)} (HeartbeatTimeout ${action.heartbeatTimeoutSeconds} s; the hook's ${ended.by} applied ${ended.result}) while the gate's chain was alive — ${failures.length} failed step(s) just before${failures.length ? ` (${failures.map((f) => f.error ?? f.result).join('; ')})` : ''}${deadLettered(id) ? '; the chain was dead-lettered' : ''}`,
        });
      }
    }

    // outcome-notice (an instance with several actions — a warm pool's return and restart,
    // a launch then a termination — is judged per action, by the action's outcome id)
    const several = sim.fleet.actions.some((a) => a !== action && a.instanceId === id);
    const ownId = outcomeId({
      groupName: action.group,
      hookName: action.hookName,
      instanceId: id,
      token: action.token,
    });
    const outcomes = outcomesOf(id).filter(
      (o) => !several || o.notice.attributes['outcome-id'] === ownId,
    );
    const outcomeIds = new Set(outcomes.map((o) => o.notice.attributes['outcome-id']));
    if (outcomeIds.size > 1) {
      // The gate promises one stable outcome id per action: a duplicate must be recognisable.
      violations.push({
        kind: 'duplicate-notice',
        instanceId: id,
        at: outcomes[1]!.at,
        message: `${id} got ${outcomes.length} outcome notices with ${outcomeIds.size} different outcome ids (${outcomes.map((o) => o.notice.attributes.event).join(', ')})`,
      });
    } else if (outcomes.length > 1) {
      duplicateNotices++;
      const cause = injectedFaultsOf(sim);
      if (cause) excused.push({ kind: 'duplicate-notice', instanceId: id, cause });
      else {
        violations.push({
          kind: 'duplicate-notice',
          instanceId: id,
          at: outcomes[1]!.at,
          message: `${id} got ${outcomes.length} outcome notices (${outcomes.map((o) => o.notice.attributes.event).join(', ')}) with no injected fault to explain a second`,
        });
      }
    }
    if (outcomes.length === 0 && sim.options.gate?.enabled !== false && !ungatedLaunch(action)) {
      const budget = outageBudgetMs(sim);
      const sns = sim.account.outages.find(
        (o) => o.service === 'sns' && o.toMs - o.fromMs > budget && o.toMs > ended.at - htMs,
      );
      const cause = sns
        ? `sns outage longer than the budget (${minutes(sns.toMs - sns.fromMs)})`
        : dryRunAtStart(action)
          ? 'dry run when the chain began'
          : // The notice comes from a step after the end: an outage then explains its loss too.
            (lostHold ?? explainLostHold(sim, id, ended.at - htMs, Number.POSITIVE_INFINITY));
      if (cause) excused.push({ kind: 'outcome-notice', instanceId: id, cause });
      else {
        violations.push({
          kind: 'outcome-notice',
          instanceId: id,
          at: ended.at,
          message: `${id}: its lifecycle action ended (${ended.by === 'completed' ? `completed with ${ended.result}` : `${ended.by} → ${ended.result}`}) at ${when(ended.at)} and no outcome notice reached the topic${deadLettered(id) ? ' (its chain was dead-lettered)' : ''}`,
        });
      }
    }

    violations.push(...checkOutcomePassage(sim, action, outcomes));

    // idle-held
    const held = checkIdleHeld(sim, action, config.recheckSeconds);
    if (held) violations.push(held);
  }

  // busy-terminated
  for (const t of sim.fleet.terminations) {
    if (!t.busy) continue;
    const action = t.action;
    const excuse = (cause: string) =>
      excused.push({ kind: 'busy-terminated', instanceId: t.instanceId, cause });
    if (!action) {
      if (hookDeleted(t.group)) excuse('the hook was deleted');
      else if (t.fromRetained) {
        const raced = workAfterFinalIdleOf(
          sim,
          t.instanceId,
          'protect',
          sim.terminateCalls,
          t.at,
          t.at,
        );
        if (raced) excuse(raced);
        else
          violations.push({
            kind: 'busy-terminated',
            instanceId: t.instanceId,
            at: t.at,
            message: `${t.instanceId} was terminated from Terminating:Retained while busy at ${when(t.at)}`,
          });
      } else
        violations.push({
          kind: 'busy-terminated',
          instanceId: t.instanceId,
          at: t.at,
          message: `${t.instanceId} was terminated while busy at ${when(t.at)} (${t.cause}; no lifecycle hook)`,
        });
      continue;
    }
    const ended = action.ended!;
    if (ended.by === 'hook-deleted') {
      excuse('the hook was deleted');
      continue;
    }
    if (ended.by === 'global-timeout') {
      excuse("the hook's global timeout passed");
      continue;
    }
    const outcomes = outcomesOf(t.instanceId).map((p) => p.notice.attributes.event);
    // The deadline's notice — or, when the step that completed died before its Publish, the
    // retry's "ended" notice, which says the gate had decided on the deadline.
    const deadlineNotice = outcomesOf(t.instanceId).some(
      (p) => p.notice.attributes.event === 'deadline' || decidedDeadline(p.notice.message),
    );
    // RETAIN on a group that retains: the deadline keeps the instance, it excuses nothing. On
    // a group that does not retain it excuses only CONTINUE: never a silent ABANDON. RETAIN
    // covers terminations out of the group only (lib/retain/decide.ts resolveCompletion): a
    // warm-pool return would wait in Warmed:Pending:Retained, which nothing of themis ends, so
    // it is completed with CONTINUE, as on a group that does not retain (the notice says why).
    const retainPolicy = config.onDeadline === 'RETAIN';
    const retainCovers = sim.fleet.retainsOnAbandon(t.group) && t.passage !== 'return-to-pool';
    const deadlineExcuses = !retainPolicy || (!retainCovers && ended.result === 'CONTINUE');
    if (ended.by === 'completed' && deadlineNotice && deadlineExcuses) {
      const limit = deadlineOf(action, sim, config.maxWaitSeconds, config.heartbeatMarginSeconds);
      if (t.at >= limit - 1000) {
        excuse("the gate's deadline passed");
        continue;
      }
    }
    if (ended.by === 'completed') {
      const raced = workAfterFinalIdle(sim, t.instanceId, ended.at, t.at);
      if (raced) {
        excuse(raced);
        continue;
      }
    }
    if (ended.by === 'heartbeat-timeout') {
      const htMs = action.heartbeatTimeoutSeconds * 1000;
      const cause = dryRunAtStart(action)
        ? 'dry run when the chain began'
        : explainLostHold(sim, t.instanceId, ended.at - htMs, ended.at);
      if (cause) {
        excuse(cause);
        continue;
      }
    }
    violations.push({
      kind: 'busy-terminated',
      instanceId: t.instanceId,
      at: t.at,
      message: `${t.instanceId} was ${t.passage === 'return-to-pool' ? 'stopped in the warm pool' : 'terminated'} while busy at ${when(t.at)} (${t.cause}; ${
        ended.by === 'completed'
          ? `completed with ${ended.result}`
          : `${ended.by} → ${ended.result}`
      }; notices: ${outcomes.join(', ') || 'none'})`,
    });
  }

  // launch-ready
  for (const end of sim.fleet.launchEnds) {
    const ended = end.action.ended!;
    const gated = end.action.tagsAtStart[LAUNCH_GATE_TAG] === 'true';
    if (!gated || end.ready || ended.by !== 'completed' || ended.result !== 'CONTINUE') continue;
    violations.push({
      kind: 'launch-ready',
      instanceId: end.instanceId,
      at: end.at,
      message: `${end.instanceId}: the gate let its launch (${end.action.passage ?? 'launch'}) go on with CONTINUE at ${when(end.at)}, before its worker answered`,
    });
  }

  // retained-left: nothing but protect ends a retained instance, and unknown never does.
  const protectOptions = sim.options.protect;
  if (protectOptions !== false) {
    const endMs = sim.now();
    const intervalMs =
      (protectOptions?.intervalSeconds ?? sim.options.deployed.protect.rateMinutes * 60) * 1000;
    for (const inst of sim.fleet.instances()) {
      // Only a worker that answers can say it is idle (one that never came up answers nothing).
      if (inst.lifecycleState !== TERMINATING_RETAINED || !sim.fleet.isUp(inst, endMs)) continue;
      // A group in dry run: protect only reports what it would do.
      if (sim.fleet.tagsOf(inst.group)[DRY_RUN_TAG] === 'true') continue;
      const idleSince = inst.work.idleSince(endMs);
      // Idle for two scans (and past any outage) and still retained: protect failed it.
      if (idleSince === undefined || endMs - idleSince < 2 * intervalMs + outageBudgetMs(sim))
        continue;
      violations.push({
        kind: 'retained-left',
        instanceId: inst.id,
        at: endMs,
        message: `${inst.id} is still in Terminating:Retained at the end, idle since ${when(idleSince)}`,
      });
    }
  }

  // request-rate
  const { perSecond, perMinute } = peakRates(sim.account.autoScalingRequests);
  if (perSecond.count > THEMIS_AUTO_SCALING_BUDGET.perSecondPeak) {
    violations.push({
      kind: 'request-rate',
      at: perSecond.at,
      message: `${perSecond.count} Auto Scaling requests in one second from ${when(perSecond.at)} (budget ${THEMIS_AUTO_SCALING_BUDGET.perSecondPeak})`,
    });
  }
  if (perMinute.count > THEMIS_AUTO_SCALING_BUDGET.perMinute) {
    violations.push({
      kind: 'request-rate',
      at: perMinute.at,
      message: `${perMinute.count} Auto Scaling requests in one minute from ${when(perMinute.at)} (budget ${THEMIS_AUTO_SCALING_BUDGET.perMinute})`,
    });
  }

  // scan-stalled
  for (const inv of sim.protect.invocations) {
    if (inv.result !== 'timeout') continue;
    const from = inv.startedAt;
    const to = inv.endedAt ?? from;
    const overlapped =
      sim.account.outages.some((o) => o.fromMs < to && o.toMs > from) ||
      sim.account.storms.some((st) => st.fromMs < to && st.toMs > from);
    if (overlapped) continue;
    violations.push({
      kind: 'scan-stalled',
      at: from,
      message: `the protect invocation started at ${when(from)} ran into its ${Math.round((to - from) / 1000)} s timeout`,
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
  const inFlight = sim.events.inFlight() + sim.recheckQueue.inFlight();
  if (inFlight > 0) {
    violations.push({
      kind: 'unsettled',
      message: `${inFlight} gate messages still in flight at the end`,
    });
  }
  for (const e of sim.journal.entries) {
    if (e.kind === 'fault' && e.data?.rejected) {
      violations.push({ kind: 'rejected-input', at: e.at, message: e.text });
    }
  }

  return {
    violations,
    excused,
    duplicateNotices,
    peakAutoScalingPerSecond: perSecond.count,
    peakAutoScalingPerMinute: perMinute.count,
  };
}

/** The busiest 1-second and 60-second windows of a sorted list of request times. */
export function peakRates(times: readonly number[]): {
  perSecond: { count: number; at: number };
  perMinute: { count: number; at: number };
} {
  const peak = (windowMs: number) => {
    let best = { count: 0, at: 0 };
    let from = 0;
    for (let to = 0; to < times.length; to++) {
      while (times[to]! - times[from]! >= windowMs) from++;
      if (to - from + 1 > best.count) best = { count: to - from + 1, at: times[from]! };
    }
    return best;
  };
  return { perSecond: peak(1000), perMinute: peak(60_000) };
}

/**
 * The one race no gate can close: the worker answered IDLE to the probe that led to the
 * release, and took new work in the moment between that answer and the CompleteLifecycleAction
 * (or the instance's shutdown). Excused only when the invocation that completed the action
 * got that IDLE answer itself, as its latest answer from this instance (a stale answer, or a
 * BUSY or unknown one after it, is no excuse), the worker really was idle then, the work
 * running at the termination started after it, and the completion came within the time the
 * step keeps for its calls after the probe (AFTER_PROBE_RESERVE_MS) unless an injected fault
 * slowed them — a gate that dawdles after its answer is not excused.
 */
function workAfterFinalIdle(
  sim: Simulation,
  instanceId: string,
  completedAt: number,
  terminatedAt: number,
): string | undefined {
  return workAfterFinalIdleOf(sim, instanceId, 'gate', sim.completions, completedAt, terminatedAt);
}

/**
 * The same race for the call that let the instance go — the gate's CompleteLifecycleAction,
 * or protect's TerminateInstanceInAutoScalingGroup of a retained instance — judged by the
 * idle answer that call's own invocation got last.
 */
function workAfterFinalIdleOf(
  sim: Simulation,
  instanceId: string,
  fn: ProbeAnswer['fn'],
  calls: Simulation['completions'],
  completedAt: number,
  terminatedAt: number,
): string | undefined {
  const completion = calls.find((c) => c.instanceId === instanceId && c.at === completedAt);
  if (!completion) return undefined;
  const answers = sim.probeHistory.get(instanceId) ?? [];
  let last: ProbeAnswer | undefined;
  for (let i = answers.length - 1; i >= 0 && !last; i--) {
    const a = answers[i]!;
    if (a.fn === fn && a.invocation === completion.invocation && a.at <= completion.at) last = a;
  }
  if (last?.status !== 'idle') return undefined;
  const work = sim.fleet.instance(instanceId)?.work;
  const unit = work?.unitAt(terminatedAt);
  if (!work || !unit || work.isBusy(last.at) || unit.startMs <= last.at) return undefined;
  // The moment is the step's calls after its probe: within the time the step keeps for them,
  // or longer only when an injected fault slowed those calls (retries, backoff).
  const windowMs = completion.at - last.at;
  const slowedBy =
    windowMs > AFTER_PROBE_RESERVE_MS ? slowingFault(sim, last.at, completion.at) : '';
  if (slowedBy === undefined) return undefined;
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return `${WORK_AFTER_FINAL_IDLE} (${s(unit.startMs - last.at)} after the answer; CompleteLifecycleAction ${s(windowMs)} after it${slowedBy ? `, slowed by ${slowedBy}` : ''})`;
}

/** An injected fault that slows the Auto Scaling or SSM calls of [fromMs, toMs], named. */
function slowingFault(sim: Simulation, fromMs: number, toMs: number): string | undefined {
  const outage = sim.account.outages.find(
    (o) =>
      (o.service === 'autoscaling' || o.service === 'ssm') && o.fromMs < toMs && o.toMs > fromMs,
  );
  if (outage) return `an ${outage.service} outage`;
  if (sim.account.storms.some((st) => st.fromMs < toMs && st.toMs > fromMs))
    return 'a throttling storm';
  if (sim.options.faults?.contention) return 'ResourceContention';
  return undefined;
}

/** The excuse's name, as the run's summary counts it. */
export const WORK_AFTER_FINAL_IDLE =
  'work started after the final idle answer that led to the release';

/** When the gate stops waiting for this action (the documented rule). */
function deadlineOf(
  action: SimLifecycleAction,
  sim: Simulation,
  maxWaitSeconds?: number,
  heartbeatMarginSeconds = 0,
): number {
  const global = documentedGlobalTimeoutSeconds(action.heartbeatTimeoutSeconds);
  // The gate's margin is at least its heartbeat margin (lib/gate/decide.ts deadlineMs): with
  // long rechecks that is far more than DEADLINE_MARGIN_SECONDS (retention's 48 h holds).
  const margin = Math.max(DEADLINE_MARGIN_SECONDS, heartbeatMarginSeconds);
  const limit = Math.min(maxWaitSeconds ?? Infinity, global - margin);
  void sim;
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

function checkIdleHeld(
  sim: Simulation,
  action: SimLifecycleAction,
  recheckSeconds: number,
): Violation | undefined {
  const idle = idleAt(sim, action);
  const ended = action.ended;
  if (idle === undefined || !ended) return undefined;
  // ECS mode: while ECS fails (an outage, throttling) nobody can see the instance is idle;
  // the wait counts from the end of the last such window.
  const idleFrom = ecsBlindUntil(sim, action.group, idle, ended.at);
  const held = ended.at - idleFrom;
  const interval = recheckIntervalMs(recheckSeconds, action.heartbeatTimeoutSeconds);
  const step = sim.gate.options.timeoutMs;
  const visibilityMs = sim.recheckQueue.options.visibilityTimeoutSeconds * 1000;
  // Failed deliveries whose redelivery delay reaches into the idle wait.
  const failed = sim.gate.invocations.filter(
    (i) =>
      i.instanceIds?.includes(action.instanceId) &&
      i.startedAt + visibilityMs + step >= idleFrom &&
      i.startedAt <= ended.at &&
      failedFor(i, action.instanceId, sim),
  );
  const redeliveries = failed.length * (visibilityMs + step);
  const ssm = gateConfigOf(sim.initialGateEnv).ssm ? sim.commands.runSeconds * 1000 + interval : 0;
  const allowed = interval + step + STEP_SLACK_MS + redeliveries + ssm;
  if (held <= allowed) return undefined;
  const s = (ms: number) => `${Math.round(ms / 1000)} s`;
  return {
    kind: 'idle-held',
    instanceId: action.instanceId,
    at: ended.at,
    message: `${action.instanceId} was idle for ${s(held)} before its release (allowed ${s(allowed)}: interval ${s(interval)}, a step ${s(step)}, ${failed.length} failed deliveries ${s(redeliveries)}${ssm ? `, command ${s(ssm)}` : ''})`,
  };
}

/**
 * The end of the last ECS outage or throttling window overlapping [fromMs, toMs] for an
 * ECS-mode group (or fromMs): the idle wait starts once ECS answers again.
 */
function ecsBlindUntil(sim: Simulation, group: string, fromMs: number, toMs: number): number {
  if (!sim.ecs.isEcsGroup(group)) return fromMs;
  const windows = [
    ...sim.account.outages.filter((o) => o.service === 'ecs'),
    ...(sim.ecs.options.throttled ?? []),
  ];
  let from = fromMs;
  for (const w of windows) {
    if (w.fromMs < toMs && w.toMs > from) from = Math.max(from, Math.min(w.toMs, toMs));
  }
  return from;
}

/**
 * Every cause an excuse may give, by its start: each names the injected fault (or the drawn
 * setting, or the one race no gate can close) that explains the case. The property test
 * refuses a tallied cause outside this list, so an excuse cannot slip in unnamed.
 */
export const EXCUSE_CAUSES: readonly RegExp[] = [
  /^(autoscaling|ec2|sqs|sns|ssm|ecs) outage longer than the budget$/,
  /^throttling storm longer than the budget$/,
  new RegExp(
    `^more than ${FAILED_STEPS_RIDDEN} failed steps in a row: (Lambda killed|(autoscaling|ec2|sqs|sns|ssm) outage|throttling storm)(, (Lambda killed|(autoscaling|ec2|sqs|sns|ssm) outage|throttling storm))*$`,
  ),
  /^a fault that repeats a step$/,
  /^the hook was deleted$/,
  /^dry run when the chain began$/,
  /^the gate's deadline passed$/,
  /^the hook's global timeout passed$/,
  new RegExp(`^${WORK_AFTER_FINAL_IDLE}$`),
];

/** Counts of excused cases by property and cause, for the run's summary. */
export function tallyExcuses(
  excuses: readonly Excuse[],
  into = new Map<string, number>(),
): Map<string, number> {
  for (const e of excuses) {
    // The kind of cause, without its figures and lists (those stay in the excuse itself).
    const cause = e.cause
      .replace(/ \([^)]*\)/g, '')
      .replace(/ ×\d+/g, '')
      .trim();
    const key = `${e.kind}: ${cause}`;
    into.set(key, (into.get(key) ?? 0) + 1);
  }
  return into;
}

/**
 * outcome-passage for one action, judged by its own outcome notices (`outcomes`): each one's
 * facts name the action's passage (absent means a plain terminate, as NoticeFacts documents),
 * and after themis's own ABANDON that Auto Scaling answered by retaining the instance, one of
 * them names the Retained state the fleet put it in (a duplicate's "already completed" need
 * not; when the step that retained was killed before its Publish, the retry's must).
 */
function checkOutcomePassage(
  sim: Simulation,
  action: SimLifecycleAction,
  outcomes: ReadonlyArray<Simulation['published'][number]>,
): Violation[] {
  const out: Violation[] = [];
  const passage = action.passage ?? 'terminate';
  const retained =
    action.ended?.by === 'completed' && action.ended.result === 'ABANDON'
      ? sim.fleet.retentions.find((r) => r.action === action)
      : undefined;
  if (
    retained &&
    outcomes.length &&
    !outcomes.some((o) => o.notice.message.includes(retained.state))
  ) {
    out.push({
      kind: 'outcome-passage',
      instanceId: action.instanceId,
      at: outcomes[0]!.at,
      message: `${action.instanceId}: themis's ABANDON left it in ${retained.state}, but no outcome notice says so (${outcomes.map((o) => `${o.notice.attributes.event}: "${o.notice.subject}"`).join('; ')})`,
    });
  }
  for (const o of outcomes) {
    const said = factsOf(o.notice.message)?.passage ?? 'terminate';
    if (said !== passage) {
      out.push({
        kind: 'outcome-passage',
        instanceId: action.instanceId,
        at: o.at,
        message: `${action.instanceId}: its ${o.notice.attributes.event} notice ("${o.notice.subject}") says passage ${said}, but the action was a ${passage}`,
      });
    }
  }
  return out;
}

/** The JSON facts at the end of a notice's body (lib/gate/notices.ts), if it has them. */
function factsOf(
  message: string,
): { event?: string; decided?: string; passage?: string } | undefined {
  const facts = message.split('\n\nFacts:\n')[1];
  if (!facts) return undefined;
  try {
    return JSON.parse(facts) as { event?: string; decided?: string; passage?: string };
  } catch {
    return undefined;
  }
}

/**
 * A launch on a group not tagged for the launch gate: themis lets it go on at once, logged and
 * without a notice by design (lib/gate/step.ts continueUngatedLaunch: one per launch would be
 * noise). Only that outcome is exempt from outcome-notice: CONTINUE by themis's own completion.
 */
function ungatedLaunch(action: SimLifecycleAction): boolean {
  return (
    action.transition === LAUNCHING &&
    action.tagsAtStart[LAUNCH_GATE_TAG] !== 'true' &&
    action.ended?.by === 'completed' &&
    action.ended.result === 'CONTINUE'
  );
}

/** An "ended" notice's facts say the step had decided on the deadline. */
function decidedDeadline(message: string): boolean {
  const parsed = factsOf(message);
  return parsed?.event === 'ended' && (parsed.decided ?? '').startsWith('deadline');
}
