/**
 * Faults the simulator can inject, all drawn from seeded streams so a history replays.
 *
 * How throttling is modelled: the real clients retry throttled requests inside the SDK
 * (adaptive mode, MAX_ATTEMPTS attempts, lib/aws/clients.ts). So each *attempt* of a
 * simulated call is throttled with probability `throttle`; the call fails only when every
 * attempt was throttled, and then it throws like the SDK does (an UpstreamError whose cause
 * is named 'Throttling'). The gate step then throws and is redelivered; a protect scan
 * reports the failure and the next scan tries again. Backoff takes no virtual time.
 */
import { MAX_ATTEMPTS } from '../lib/aws/clients.js';

export interface FaultRates {
  /** Probability that one attempt of any AWS call is throttled. */
  throttle: number;
  /** Probability that an SNS Publish fails (after its attempts). */
  publishFailure: number;
  /** Probability that an SQS SendMessage fails (after its attempts). */
  sendMessageFailure: number;
  /**
   * Probability that a gate step dies mid-way: the process is gone right after its k-th
   * external call (k uniform in 1..crashWithinCalls), that call having taken effect. Nothing
   * after it happens; the message is redelivered.
   */
  stepCrash: number;
  crashWithinCalls: number;
  /** Probability that the lifecycle event is delivered twice. */
  duplicateEvent: number;
  /** Probability that a recheck message is delivered twice (SQS is at-least-once). */
  duplicateRecheck: number;
}

export const NO_FAULTS: Readonly<FaultRates> = Object.freeze({
  throttle: 0,
  publishFailure: 0,
  sendMessageFailure: 0,
  stepCrash: 0,
  crashWithinCalls: 6,
  duplicateEvent: 0,
  duplicateRecheck: 0,
});

/** Attempts per call, as the real clients are configured. */
export const SDK_MAX_ATTEMPTS = MAX_ATTEMPTS;

/** Thrown by a guarded port once the simulated process has died; never caught for good. */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
  constructor(readonly afterCall: number) {
    super(`simulated crash: the process died after call ${afterCall} of this step`);
  }
}
