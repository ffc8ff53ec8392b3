/**
 * The protect decision, as a pure function: given what each InService instance answered and
 * whether it is protected now, say which instances to protect and which to unprotect.
 *
 *   busy    ∧ unprotected → protect
 *   idle    ∧ protected   → unprotect
 *   unknown               → untouched (or protect when unprotected, with `protectUnknown`)
 *   anything else         → already right, no change
 *
 * Invariant: an unknown answer never removes protection — a worker that cannot be asked
 * might be in the middle of its work.
 */
import type { ProbeStatus } from '../ports.js';

export interface Observation {
  instanceId: string;
  status: ProbeStatus;
  protectedBefore: boolean;
}

export type Action = 'protect' | 'unprotect' | 'none';

export interface Decision {
  instanceId: string;
  status: ProbeStatus;
  protectedBefore: boolean;
  action: Action;
  /** Plain words for the log line and the report. */
  reason: string;
}

export interface Plan {
  decisions: Decision[];
  /** Ids to protect, in input order. */
  protect: string[];
  /** Ids to unprotect, in input order. */
  unprotect: string[];
}

export interface PlanOptions {
  /** Protect instances whose probe answer is unknown (default false: leave them as they are). */
  protectUnknown: boolean;
}

export function decide(observation: Observation, options: PlanOptions): Decision {
  const { status, protectedBefore } = observation;
  const at = (action: Action, reason: string): Decision => ({ ...observation, action, reason });
  switch (status) {
    case 'busy':
      return protectedBefore
        ? at('none', 'busy and already protected')
        : at('protect', 'busy and unprotected');
    case 'idle':
      return protectedBefore
        ? at('unprotect', 'idle and protected')
        : at('none', 'idle and already unprotected');
    case 'unknown':
      if (protectedBefore) return at('none', 'unknown answer: protection left in place');
      return options.protectUnknown
        ? at('protect', 'unknown answer and protectUnknown is set')
        : at('none', 'unknown answer: left unprotected');
  }
}

export function planProtection(observations: readonly Observation[], options: PlanOptions): Plan {
  const decisions = observations.map((o) => decide(o, options));
  return {
    decisions,
    protect: decisions.filter((d) => d.action === 'protect').map((d) => d.instanceId),
    unprotect: decisions.filter((d) => d.action === 'unprotect').map((d) => d.instanceId),
  };
}
