/**
 * ECS mode: a failed ECS call says nothing about the instance. observeForGate marks a
 * transient failure (throttling, ECS's own fault, a timeout, the network) as an API failure,
 * and the gate's decision holds without counting it towards the unknown limit — the
 * simulator's ECS histories found busy instances released as "unreachable" during a
 * minute-long ECS outage, their tasks killed (docs/ecs.md, "The gate in ECS mode").
 *
 * An error that asking again cannot fix (access denied, a mistyped cluster, a bad parameter)
 * is a plain unknown: counted, and released at the limit with a notice naming it. Marked an
 * API failure, it held every such action silently until the 48 h global timeout.
 * Broken variant caught: every error marked an API failure (the catch before the fix).
 */
import {
  AccessDeniedException,
  ClientException,
  ClusterNotFoundException,
  InvalidParameterException,
  ServerException,
} from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { observeForGate } from '../../lib/ecs/gate-source.js';
import { UpstreamError } from '../../lib/errors.js';
import { decide } from '../../lib/gate/decide.js';
import type { StepState } from '../../lib/gate/state.js';
import type { EcsClusterControl, EcsClusterState, ProbeResult } from '../../lib/ports.js';
import { Deadline } from '../../lib/time.js';
import { gateConfig } from '../gate/fakes.js';

const T0 = Date.parse('2024-05-01T12:00:00Z');
const $metadata = { httpStatusCode: 400 };

/** ECS whose first call fails with `err`, wrapped as the adapter wraps it. */
function ecsFailingWith(err: unknown): EcsClusterState & EcsClusterControl {
  const unused = () => Promise.reject(new Error('unused'));
  return {
    containerInstances: () =>
      Promise.reject(new UpstreamError('ListContainerInstances jobs', { cause: err })),
    tasks: unused,
    services: unused,
    serviceArns: unused,
    taskReservation: unused,
    setContainerInstancesState: unused,
    setDesiredCount: unused,
  };
}

const failingEcs = ecsFailingWith(
  new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }),
);

function observe(ecs: (EcsClusterState & EcsClusterControl) | undefined, deadlineMs = 5_000) {
  return observeForGate({
    cluster: 'jobs',
    instanceId: 'i-0123456789abcdef0',
    ecs,
    dryRun: false,
    sinceMs: T0,
    deadline: Deadline.after(deadlineMs),
    now: () => T0,
  });
}

/** ECS throttling is not a modelled ECS exception: the SDK builds it from the answer's code. */
function throttling(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata,
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

  const transient: Array<[string, () => unknown]> = [
    ['throttling', throttling],
    [
      'an HTTP 503 without a modelled name',
      () =>
        Object.assign(new Error('Service Unavailable'), {
          name: 'UnknownError',
          $fault: 'client',
          $metadata: { httpStatusCode: 503 },
        }),
    ],
    [
      'an attempt that timed out',
      () =>
        Object.assign(new Error('Connection timed out after 5000 ms'), { name: 'TimeoutError' }),
    ],
    [
      'an aborted request',
      () => Object.assign(new Error('Request aborted'), { name: 'AbortError' }),
    ],
    [
      'a connection reset',
      () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ],
  ];
  for (const [what, error] of transient) {
    it(`marks ${what} as an API failure`, async () => {
      const answer = await observe(ecsFailingWith(error()));
      expect(answer).to.include({ status: 'unknown', apiFailure: true });
    });
  }

  it('marks ECS not answering within the deadline as an API failure', async () => {
    const silent = { ...failingEcs, containerInstances: () => new Promise<never>(() => undefined) };
    const answer = await observe(silent, 20);
    expect(answer).to.include({ status: 'unknown', apiFailure: true });
  });

  const permanent: Array<[string, () => unknown, RegExp]> = [
    [
      'access denied',
      () => new AccessDeniedException({ message: 'not authorized', $metadata }),
      /AccessDeniedException/,
    ],
    [
      'a cluster that does not exist (a mistyped tag)',
      () => new ClusterNotFoundException({ message: 'Cluster not found.', $metadata }),
      /ClusterNotFoundException/,
    ],
    [
      'a parameter ECS refuses',
      () => new InvalidParameterException({ message: 'bad filter', $metadata }),
      /InvalidParameterException/,
    ],
    [
      'a client error',
      () => new ClientException({ message: 'no permission', $metadata }),
      /ClientException/,
    ],
    ['an error without an AWS shape', () => new TypeError('x is undefined'), /TypeError/],
  ];
  for (const [what, error, name] of permanent) {
    it(`counts ${what} as a plain unknown, naming the error`, async () => {
      const answer = await observe(ecsFailingWith(error()));
      expect(answer.status).to.equal('unknown');
      expect(answer.apiFailure).to.equal(undefined);
      expect(answer.reason).to.match(/^ECS cluster jobs: ListContainerInstances jobs failed: /);
      expect(answer.reason).to.match(name);
    });
  }

  it('releases at the unknown limit on a cluster that does not exist, the reason naming the error', async () => {
    const answer = await observe(
      ecsFailingWith(new ClusterNotFoundException({ message: 'Cluster not found.', $metadata })),
    );
    const decision = decideOn(answer, 2);
    expect(decision.kind).to.equal('release-unreachable');
    expect(decision.reason).to.match(/ClusterNotFoundException: Cluster not found/);
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
