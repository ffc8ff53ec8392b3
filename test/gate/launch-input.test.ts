/** The gate's input parsing of launch and warm pool events, with AWS's documented examples. */
import { expect } from 'chai';
import { InvalidEventError } from '../../lib/errors.js';
import { normaliseInput, type GateInput } from '../../lib/gate/input.js';
import { decodeRecheck, encodeRecheck, initialState } from '../../lib/gate/state.js';
import {
  EVENT_REFERENCE_LAUNCH,
  WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL,
  WARM_POOL_EXAMPLE_2_LEAVE_POOL,
  WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP,
  WARM_POOL_EXAMPLE_4_RETURN_TO_POOL,
  withRealToken,
} from '../fixtures/aws-lifecycle-events.js';
import { snsEnvelope } from './fakes.js';

const NOW = Date.parse('2024-05-01T13:00:00Z');
const TOKEN = '71514b9d-6a40-4b26-8523-05e7ee35fa40';

function action(input: unknown): Extract<GateInput, { kind: 'action' }> {
  const result = normaliseInput(input, NOW);
  if (result.kind !== 'action') throw new Error(`expected an action, got ${result.kind}`);
  return result;
}

describe('gate input: launch and warm pool events', () => {
  const examples = [
    ['Example 1 (a new instance into the warm pool)', WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL],
    ['Example 2 (from the warm pool into the group)', WARM_POOL_EXAMPLE_2_LEAVE_POOL],
    ['Example 3 (a new instance into the group)', WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP],
    ['Example 4 (back to the warm pool on scale-in)', WARM_POOL_EXAMPLE_4_RETURN_TO_POOL],
  ] as const;

  for (const [name, example] of examples) {
    it(`refuses AWS's ${name} verbatim for its placeholder token only`, () => {
      let error: unknown;
      try {
        normaliseInput(example, NOW);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(InvalidEventError);
      expect((error as InvalidEventError).field).to.equal('detail.LifecycleActionToken');
    });

    it(`reads AWS's ${name} with a real token: transition, places, metadata and time`, () => {
      const result = action(withRealToken(example));
      const { detail } = example;
      expect(result.source).to.equal('eventbridge');
      expect(result.action).to.deep.include({
        groupName: 'my-asg',
        hookName: detail.LifecycleHookName,
        instanceId: 'i-1234567890abcdef0',
        token: TOKEN,
        transition: detail.LifecycleTransition,
        metadata: 'additional-info',
      });
      expect(result.eventTimeMs).to.equal(Date.parse(example.time));
      const warm = detail.Origin === 'WarmPool' || detail.Destination === 'WarmPool';
      expect(result.action.origin).to.equal(warm ? detail.Origin : undefined);
      expect(result.action.destination).to.equal(warm ? detail.Destination : undefined);
    });
  }

  it("reads the event reference's launch event verbatim, with no time it can read", () => {
    const result = action(EVENT_REFERENCE_LAUNCH);
    expect(result.action.transition).to.equal('autoscaling:EC2_INSTANCE_LAUNCHING');
    expect(result.action).to.not.have.property('origin');
    expect(result).to.not.have.property('eventTimeMs');
  });

  it('reads a launch event delivered as an SQS body and inside an SNS envelope', () => {
    const event = withRealToken(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL);
    expect(action(JSON.stringify(event)).action.destination).to.equal('WarmPool');
    const viaSns = normaliseInput(JSON.stringify(snsEnvelope(event)), NOW);
    expect(viaSns.kind === 'action' && viaSns.action.origin).to.equal('EC2');
  });

  it("reads Origin and Destination from the hook's own notification message too", () => {
    const { detail } = withRealToken(WARM_POOL_EXAMPLE_4_RETURN_TO_POOL);
    const result = action({
      ...detail,
      Service: 'AWS Auto Scaling',
      Time: '2022-03-28T00:12:37.214Z',
    });
    expect(result.source).to.equal('hook-notification');
    expect(result.action).to.include({ origin: 'AutoScalingGroup', destination: 'WarmPool' });
  });

  it('refuses a launch detail-type around a terminating transition', () => {
    const event = withRealToken(WARM_POOL_EXAMPLE_4_RETURN_TO_POOL);
    const odd = { ...event, 'detail-type': 'EC2 Instance-launch Lifecycle Action' };
    expect(() => normaliseInput(odd, NOW)).to.throw(
      InvalidEventError,
      /does not match detail-type/,
    );
  });

  it('drops an Origin it does not know, and then reads the event by its transition', () => {
    const event = withRealToken(WARM_POOL_EXAMPLE_2_LEAVE_POOL);
    const odd = { ...event, detail: { ...event.detail, Origin: 'Hibernation' } };
    const result = action(odd);
    expect(result.action).to.not.have.property('origin');
    expect(result.action.destination).to.equal(undefined);
  });

  it('carries a launch into the warm pool through the recheck message', () => {
    const first = action(withRealToken(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL));
    const state = initialState(Date.parse('2021-01-13T00:12:37Z'), {
      heartbeatTimeoutSeconds: 300,
      globalTimeoutSeconds: 30_000,
    });
    const body = JSON.parse(encodeRecheck(first.action, state)) as unknown;
    expect(decodeRecheck(body, NOW).action).to.deep.equal(first.action);
  });

  it('refuses a recheck message with a place Auto Scaling does not send', () => {
    const first = action(withRealToken(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL));
    const state = initialState(NOW - 1000, {
      heartbeatTimeoutSeconds: 300,
      globalTimeoutSeconds: 30_000,
    });
    const body = JSON.parse(encodeRecheck({ ...first.action }, state)) as {
      action: Record<string, unknown>;
    };
    body.action.origin = 'Hibernation';
    expect(() => decodeRecheck(body, NOW)).to.throw(InvalidEventError, /action\.origin|invalid/);
  });
});
