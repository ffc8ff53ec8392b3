import { expect } from 'chai';
import {
  AFTER_PROBE_RESERVE_MS,
  CALL_ALLOWANCE_MS,
  CALLS_AFTER_PROBE,
  CALLS_BEFORE_PROBE,
  DEFAULT_GATE_TIMING,
  DEFAULT_HEARTBEAT_MARGIN_SECONDS,
  DELIVERY_LAG_SECONDS,
  heartbeatMarginSeconds,
  heartbeatMarginTerms,
  heartbeatsPerHour,
  requiredFunctionTimeoutSeconds,
  requiredHeartbeatTimeoutSeconds,
  stepBudgetMs,
  type GateTiming,
} from '../../lib/gate/budget.js';

const timing: GateTiming = {
  recheckSeconds: 10,
  functionTimeoutSeconds: 30,
  visibilityTimeoutSeconds: 180,
  maxProbeTimeoutMs: 2_000,
  failedStepsRidden: 2,
};

describe('gate budget', () => {
  it('sums the heartbeat margin from the recheck, the delivery lag, two failed steps and a worst-case step', () => {
    const expected = AFTER_PROBE_RESERVE_MS / 1000 + 10 + DELIVERY_LAG_SECONDS + 2 * 180 + 30;
    expect(heartbeatMarginSeconds(timing)).to.equal(expected);
  });

  it('names every term of the required HeartbeatTimeout, and they add up to it', () => {
    const { seconds, terms } = requiredHeartbeatTimeoutSeconds(timing);
    expect(seconds).to.equal(terms.reduce((s, t) => s + t.seconds, 0));
    expect(terms.map((t) => t.label).join('; '))
      .to.contain('2 failed steps')
      .and.contain('180 s');
  });

  it('grows by one visibility timeout for each further failed step ridden out', () => {
    const three = heartbeatMarginSeconds({ ...timing, failedStepsRidden: 3 });
    expect(three - heartbeatMarginSeconds(timing)).to.equal(180);
  });

  it('needs a function timeout that fits the largest probe a tag can ask for', () => {
    const small = requiredFunctionTimeoutSeconds(timing);
    const large = requiredFunctionTimeoutSeconds({ ...timing, maxProbeTimeoutMs: 60_000 });
    expect(large.seconds - small.seconds).to.equal(58);
    expect(large.terms[0]!.label).to.contain('60 s probe');
    expect(stepBudgetMs(60_000) - stepBudgetMs(2_000)).to.equal(58_000);
  });

  it('counts a batch larger than the record concurrency as several waves of steps', () => {
    const one = requiredFunctionTimeoutSeconds({ ...timing, batchSize: 10 });
    const two = requiredFunctionTimeoutSeconds({ ...timing, batchSize: 11 });
    expect(two.seconds - one.seconds).to.be.closeTo(stepBudgetMs(2_000) / 1000, 1);
  });

  it('heartbeats once per (HeartbeatTimeout − margin), or on every step when that is not positive', () => {
    const margin = heartbeatMarginSeconds(timing);
    expect(heartbeatsPerHour(margin + 100, timing)).to.equal(36);
    expect(heartbeatsPerHour(margin, timing)).to.equal(360);
  });

  it('computes the default margin from the default stack, which can keep its own hook alive', () => {
    expect(DEFAULT_HEARTBEAT_MARGIN_SECONDS).to.equal(heartbeatMarginSeconds(DEFAULT_GATE_TIMING));
    expect(DEFAULT_GATE_TIMING.visibilityTimeoutSeconds).to.be.at.least(
      6 * DEFAULT_GATE_TIMING.functionTimeoutSeconds,
    );
    expect(requiredFunctionTimeoutSeconds(DEFAULT_GATE_TIMING).seconds).to.be.at.most(
      DEFAULT_GATE_TIMING.functionTimeoutSeconds,
    );
  });
});

// Added for the mutation run (docs/mutation.md): what each term of a budget says (the deploy
// quotes these when it refuses a stack) and that a step's budget has room for every call.
describe('gate budget: the terms an operator reads', () => {
  it('gives every AWS call of a step its allowance, and the probe its whole timeout', () => {
    expect(stepBudgetMs(0)).to.equal((CALLS_BEFORE_PROBE + CALLS_AFTER_PROBE) * CALL_ALLOWANCE_MS);
    expect(stepBudgetMs(2_000) - stepBudgetMs(0)).to.equal(2_000);
  });

  it('names the terms of the heartbeat margin in plain words', () => {
    expect(heartbeatMarginTerms(timing).map((t) => t.label)).to.deep.equal([
      "this step's calls after its decision",
      'the next recheck (recheckSeconds)',
      'SQS delivery lag',
      '2 failed steps × the visibility timeout (180 s)',
      'a worst-case step until its heartbeat (the function timeout)',
    ]);
  });

  it('names the terms of the function timeout, with the calls and probe of a worst-case step', () => {
    const calls = CALLS_BEFORE_PROBE + CALLS_AFTER_PROBE;
    expect(requiredFunctionTimeoutSeconds(timing).terms.map((t) => t.label)).to.deep.equal([
      `1 × a worst-case step (${calls} AWS calls × ${CALL_ALLOWANCE_MS / 1000} s + a 2 s probe)`,
      'the invocation reserve',
    ]);
  });
});
