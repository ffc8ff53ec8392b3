/**
 * ECS mode: a failed ECS call says nothing about the instance. observeForGate marks it as an
 * API failure, and the gate's decision holds without counting it towards the unknown limit —
 * the simulator's ECS histories found busy instances released as "unreachable" during a
 * minute-long ECS outage, their tasks killed (docs/ecs.md, "The gate in ECS mode").
 */
import { expect } from 'chai';
import { observeForGate } from '../../lib/ecs/gate-source.js';
import { decide } from '../../lib/gate/decide.js';
import type { StepState } from '../../lib/gate/state.js';
import type { EcsClusterControl, EcsClusterState, ProbeResult } from '../../lib/ports.js';
import { Deadline } from '../../lib/time.js';
import { gateConfig } from '../gate/fakes.js';

const T0 = Date.parse('2024-05-01T12:00:00Z');

const failingEcs: EcsClusterState & EcsClusterControl = {
  containerInstances: () => Promise.reject(new Error('ServerException: internal error')),
  tasks: () => Promise.reject(new Error('unused')),
  services: () => Promise.reject(new Error('unused')),
  serviceArns: () => Promise.reject(new Error('unused')),
  taskReservation: () => Promise.reject(new Error('unused')),
  setContainerInstancesState: () => Promise.reject(new Error('unused')),
  setDesiredCount: () => Promise.reject(new Error('unused')),
};

function observe(ecs: (EcsClusterState & EcsClusterControl) | undefined) {
  return observeForGate({
    cluster: 'jobs',
    instanceId: 'i-0123456789abcdef0',
    ecs,
    dryRun: false,
    sinceMs: T0,
    deadline: Deadline.after(5_000),
    now: () => T0,
  });
}

function state(unknowns: number): StepState {
  return {
    firstSeenMs: T0,
    attempt: 5,
    unknowns,
    holdingNotified: true,
    hook: { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000 },
    lastHeartbeatMs: T0,
    heartbeats: 0,
  };
}

function decideOn(probe: ProbeResult, unknowns: number) {
  return decide({
    state: state(unknowns),
    probe,
    config: gateConfig({ THEMIS_UNKNOWN_LIMIT: '3' }),
    dryRun: false,
    nowMs: T0 + 60_000,
    random: 0,
    phase: 0,
  });
}

describe('gate in ECS mode: an ECS failure is not an unreachable instance', () => {
  it('marks a failed ECS call as an API failure, naming the call', async () => {
    const answer = await observe(failingEcs);
    expect(answer).to.include({ status: 'unknown', apiFailure: true });
    expect(answer.reason).to.match(/ECS cluster jobs: .*ServerException/);
  });

  it('does not call a gate without an ECS client an API failure (a setup problem counts)', async () => {
    const answer = await observe(undefined);
    expect(answer.status).to.equal('unknown');
    expect(answer.apiFailure).to.equal(undefined);
  });

  it('holds on an API failure at the unknown limit, without counting it; a plain unknown releases', () => {
    const apiFailure: ProbeResult = {
      status: 'unknown',
      reason: 'ECS cluster jobs: throttled',
      latencyMs: 1,
      apiFailure: true,
    };
    const held = decideOn(apiFailure, 2);
    expect(held.kind).to.equal('hold');
    expect(held.reason).to.match(/not counted towards the unknown limit/);
    expect('next' in held && held.next.unknowns).to.equal(2);

    const plain: ProbeResult = { status: 'unknown', reason: 'connection refused', latencyMs: 1 };
    expect(decideOn(plain, 2).kind).to.equal('release-unreachable');
  });
});
