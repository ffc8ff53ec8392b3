/**
 * The gate's time budget, as pure arithmetic shared by the gate (when to heartbeat, how long
 * a record may take) and the deploy (deploy/params.ts refuses a stack whose hook cannot be
 * kept alive, naming these terms).
 *
 * The gate probes every `recheckSeconds` but records a lifecycle heartbeat only when the
 * hook's HeartbeatTimeout would otherwise come within the *heartbeat margin*: the longest
 * time that can pass between a step deciding "no heartbeat needed yet" and the next step
 * that can heartbeat actually doing so. That path is, in the worst case:
 *
 *   this step's calls after its decision (the SendMessage of the recheck)
 *   + the recheck delay (at most recheckSeconds; jitter only shortens it)
 *   + SQS/Lambda delivery lag
 *   + `failedStepsRidden` deliveries that fail, each costing the queue's visibility timeout
 *     (SQS makes a received message visible again only that long after the receive)
 *   + the step that succeeds, from its delivery to its heartbeat (at most the function's
 *     timeout: a step never outlives its invocation)
 *
 * Invariant: a step that skips the heartbeat does so only when `now + margin` is still
 * before `lastHeartbeat + HeartbeatTimeout`, so the hook cannot time out while the chain is
 * alive and at most `failedStepsRidden` deliveries in a row fail. A HeartbeatTimeout at or
 * below the margin makes every step heartbeat (the safe fallback).
 */

/** What the budget depends on; every field is a deployment number. */
export interface GateTiming {
  /** THEMIS_RECHECK_SECONDS: the longest delay between two steps of one action. */
  recheckSeconds: number;
  /** The gate function's timeout (serverless.yml `functions.gate.timeout`). */
  functionTimeoutSeconds: number;
  /** The recheck queue's VisibilityTimeout: what a failed step costs before redelivery. */
  visibilityTimeoutSeconds: number;
  /** The largest probe timeout the settings can ask for (a `themis:probe-timeout-ms` tag). */
  maxProbeTimeoutMs: number;
  /** Failed steps in a row a held instance must survive (the issue asks for two). */
  failedStepsRidden: number;
  /** Records per SQS batch (the event source's batchSize); default RECORD_CONCURRENCY. */
  batchSize?: number;
}

/** One named part of a sum, for error messages and docs ("2 failed steps × 120 s"). */
export interface BudgetTerm {
  label: string;
  seconds: number;
}

export interface BudgetSum {
  seconds: number;
  terms: BudgetTerm[];
}

/**
 * Time one AWS call may take inside a step's budget, SDK retries included. Not a per-call
 * limit: every call of a step runs against the step's one deadline; this only sizes it.
 */
export const CALL_ALLOWANCE_MS = 2_000;
/** DescribeLifecycleHooks (first step), DescribeAutoScalingGroups, DescribeInstances. */
export const CALLS_BEFORE_PROBE = 3;
/**
 * The most calls after the probe: heartbeat, DescribeDocument, DescribeInstanceInformation,
 * SendCommand, SendMessage (starting a pre-termination command); Complete + Publish +
 * SendMessage (a notice retry) is fewer.
 */
export const CALLS_AFTER_PROBE = 5;
/** Kept back from the invocation's remaining time to return the batch response and log. */
export const INVOCATION_RESERVE_MS = 1_500;
/** Records of one SQS batch stepped at once; a batch up to this size runs in one wave. */
export const RECORD_CONCURRENCY = 10;
/**
 * SQS delivers a delayed message, and Lambda's poller hands it over, a little after its
 * DelaySeconds; seconds, not minutes, in AWS's documentation and in our runs.
 */
export const DELIVERY_LAG_SECONDS = 5;
/** The largest probe timeout any settings layer accepts (lib/config.ts: timeoutMs ≤ 60 000). */
export const MAX_PROBE_TIMEOUT_MS = 60_000;
/** Failed steps in a row a held instance survives by default. */
export const FAILED_STEPS_RIDDEN = 2;

/** Time kept for the calls after the probe; the probe is cut short so these still fit. */
export const AFTER_PROBE_RESERVE_MS = CALLS_AFTER_PROBE * CALL_ALLOWANCE_MS;

/** The whole budget of one step that probes with `probeTimeoutMs`. */
export function stepBudgetMs(probeTimeoutMs: number): number {
  return CALLS_BEFORE_PROBE * CALL_ALLOWANCE_MS + probeTimeoutMs + AFTER_PROBE_RESERVE_MS;
}

/**
 * The function timeout a batch needs so that no probe is ever cut short by lack of time: one
 * worst-case step per wave of RECORD_CONCURRENCY records, plus the invocation's reserve.
 */
export function requiredFunctionTimeoutSeconds(t: GateTiming): BudgetSum {
  const waves = Math.max(1, Math.ceil((t.batchSize ?? RECORD_CONCURRENCY) / RECORD_CONCURRENCY));
  const terms: BudgetTerm[] = [
    {
      label: `${waves} × a worst-case step (${CALLS_BEFORE_PROBE + CALLS_AFTER_PROBE} AWS calls × ${
        CALL_ALLOWANCE_MS / 1000
      } s + a ${t.maxProbeTimeoutMs / 1000} s probe)`,
      seconds: (waves * stepBudgetMs(t.maxProbeTimeoutMs)) / 1000,
    },
    { label: 'the invocation reserve', seconds: INVOCATION_RESERVE_MS / 1000 },
  ];
  return { seconds: Math.ceil(sum(terms)), terms };
}

/** The terms of the heartbeat margin (see the header), in seconds. */
export function heartbeatMarginTerms(t: GateTiming): BudgetTerm[] {
  return [
    { label: "this step's calls after its decision", seconds: AFTER_PROBE_RESERVE_MS / 1000 },
    { label: 'the next recheck (recheckSeconds)', seconds: t.recheckSeconds },
    { label: 'SQS delivery lag', seconds: DELIVERY_LAG_SECONDS },
    {
      label: `${t.failedStepsRidden} failed steps × the visibility timeout (${t.visibilityTimeoutSeconds} s)`,
      seconds: t.failedStepsRidden * t.visibilityTimeoutSeconds,
    },
    {
      label: 'a worst-case step until its heartbeat (the function timeout)',
      seconds: t.functionTimeoutSeconds,
    },
  ];
}

/** How long before the hook's HeartbeatTimeout the gate must have heartbeated, in seconds. */
export function heartbeatMarginSeconds(t: GateTiming): number {
  return Math.ceil(sum(heartbeatMarginTerms(t)));
}

/**
 * The HeartbeatTimeout a hook needs: more than this many seconds (`seconds` is the sum of
 * `terms`, the margin). A hook at or below it cannot be kept alive through
 * `failedStepsRidden` failed steps, whatever the gate does.
 */
export function requiredHeartbeatTimeoutSeconds(t: GateTiming): BudgetSum {
  const terms = heartbeatMarginTerms(t);
  return { seconds: Math.ceil(sum(terms)), terms };
}

/**
 * Heartbeats per hour of hold for a hook with `heartbeatTimeoutSeconds`, at most: one each
 * (HeartbeatTimeout − margin), or one per step when that is not positive.
 */
export function heartbeatsPerHour(heartbeatTimeoutSeconds: number, t: GateTiming): number {
  const spacing = heartbeatTimeoutSeconds - heartbeatMarginSeconds(t);
  return Math.ceil(3600 / (spacing > 0 ? spacing : t.recheckSeconds));
}

/**
 * The timing of the default stack (serverless.yml's defaults). The gate's default
 * THEMIS_HEARTBEAT_MARGIN_SECONDS is computed from it; the deploy sets the variable from the
 * real numbers; test/packaging.test.ts checks that this is serverless.yml's default timing.
 */
export const DEFAULT_GATE_TIMING: Readonly<GateTiming> = Object.freeze({
  recheckSeconds: 10,
  functionTimeoutSeconds: 80,
  visibilityTimeoutSeconds: 480,
  maxProbeTimeoutMs: MAX_PROBE_TIMEOUT_MS,
  failedStepsRidden: FAILED_STEPS_RIDDEN,
  batchSize: RECORD_CONCURRENCY,
});

export const DEFAULT_HEARTBEAT_MARGIN_SECONDS = heartbeatMarginSeconds(DEFAULT_GATE_TIMING);

function sum(terms: BudgetTerm[]): number {
  return terms.reduce((total, term) => total + term.seconds, 0);
}
