/**
 * ECS mode: when the ECS API fails (an outage, throttling), the gate has no evidence that the
 * instance is unreachable, so the failure must not count towards the unknown limit — else a
 * busy instance is released as "unreachable" during a minute-long ECS outage and its tasks
 * are killed (what the property histories found, e31ab02). (Mutation testing, issue 15: no
 * unit test covered decide.ts's apiFailure branch; removing it went unnoticed outside the
 * simulator.)
 */
import { expect } from 'chai';
import { decide, type DecideInput } from '../../lib/gate/decide.js';
import { initialState } from '../../lib/gate/state.js';
import type { ProbeResult } from '../../lib/ports.js';
import { gateConfig } from './fakes.js';

const T0 = Date.parse('2026-11-26T18:00:00Z');
const HOOK = { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000 };

function step(probe: ProbeResult, unknowns: number): ReturnType<typeof decide> {
  const config = gateConfig();
  const input: DecideInput = {
    state: { ...initialState(T0, HOOK), attempt: unknowns + 1, unknowns },
    probe,
    config,
    dryRun: false,
    nowMs: T0 + 60_000,
    random: 0,
    phase: 0,
  };
  return decide(input);
}

describe('gate decide: an ECS API failure is not an unreachable instance', () => {
  const limit = gateConfig().unknownLimit;
  const apiFailure: ProbeResult = {
    status: 'unknown',
    reason: 'ListTasks failed: ThrottlingException',
    latencyMs: 0,
    apiFailure: true,
  };

  it('holds on an API failure even with the unknown limit one answer away, without counting it', () => {
    const d = step(apiFailure, limit - 1);
    expect(d.kind).to.equal('hold');
    if (d.kind !== 'hold') return;
    expect(d.reason).to.equal(
      'unknown: ListTasks failed: ThrottlingException (an API failure: not counted towards the unknown limit)',
    );
    expect(d.next.unknowns).to.equal(limit - 1);
    expect(d.next.attempt).to.equal(limit + 1);
    expect(d.notifyHolding).to.equal(false);
    expect(d.delaySeconds).to.be.greaterThan(0);
  });

  it('still releases as unreachable when the instance itself stops answering', () => {
    const instanceUnknown: ProbeResult = {
      status: 'unknown',
      reason: apiFailure.reason!,
      latencyMs: 0,
    };
    expect(step(instanceUnknown, limit - 1).kind).to.equal('release-unreachable');
  });
});
