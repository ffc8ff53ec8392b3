import { expect } from 'chai';
import { InvalidEventError } from '../../lib/errors.js';
import { normaliseInput, type GateInput } from '../../lib/gate/input.js';
import { decodeRecheck, encodeRecheck, initialState } from '../../lib/gate/state.js';
import {
  GROUP,
  HOOK,
  hookMessage,
  INSTANCE,
  snsEnvelope,
  terminateEvent,
  TEST_NOTIFICATION_MESSAGE,
  TOKEN,
} from './fakes.js';

const expectedAction = {
  groupName: GROUP,
  hookName: HOOK,
  instanceId: INSTANCE,
  token: TOKEN,
  transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
};

function action(input: unknown): Extract<GateInput, { kind: 'action' }> {
  const result = normaliseInput(input);
  if (result.kind !== 'action') throw new Error(`expected an action, got ${result.reason}`);
  return result;
}

function invalid(input: unknown): InvalidEventError {
  try {
    normaliseInput(input);
  } catch (err) {
    expect(err).to.be.instanceOf(InvalidEventError);
    return err as InvalidEventError;
  }
  throw new Error('expected an InvalidEventError');
}

describe('gate input', () => {
  describe('accepted formats', () => {
    it('reads the EventBridge event, with its time as first sight', () => {
      const result = action(terminateEvent({ metadata: '{"metricsPort": 9100}' }));
      expect(result.source).to.equal('eventbridge');
      expect(result.viaSns).to.equal(false);
      expect(result.action).to.deep.equal({ ...expectedAction, metadata: '{"metricsPort": 9100}' });
      expect(result.eventTimeMs).to.equal(Date.parse('2024-05-01T12:00:00Z'));
      expect(result.state).to.equal(undefined);
    });

    it('reads the EventBridge event given as JSON text (an SQS body)', () => {
      expect(action(JSON.stringify(terminateEvent())).action).to.deep.equal(expectedAction);
    });

    it("reads the hook's own notification message, with its Time", () => {
      const result = action(JSON.stringify(hookMessage()));
      expect(result.source).to.equal('hook-notification');
      expect(result.action).to.deep.equal(expectedAction);
      expect(result.eventTimeMs).to.equal(Date.parse('2024-05-01T11:59:30.000Z'));
    });

    it('reads a hook notification inside an SNS envelope', () => {
      const result = action(JSON.stringify(snsEnvelope(hookMessage({ metadata: 'x' }))));
      expect(result.viaSns).to.equal(true);
      expect(result.source).to.equal('hook-notification');
      expect(result.action).to.deep.equal({ ...expectedAction, metadata: 'x' });
    });

    it('reads an EventBridge event inside an SNS envelope', () => {
      const result = action(snsEnvelope(terminateEvent()));
      expect(result.viaSns).to.equal(true);
      expect(result.source).to.equal('eventbridge');
    });

    it('reads its own recheck message back into the same action and state', () => {
      const state = {
        ...initialState(Date.parse('2024-05-01T12:00:00Z'), {
          heartbeatTimeoutSeconds: 300,
          globalTimeoutSeconds: 30_000,
        }),
        attempt: 4,
        unknowns: 1,
        holdingNotified: true,
        ssm: { commandId: 'cmd-1', sentAtMs: Date.parse('2024-05-01T12:05:00Z') },
      };
      const body = encodeRecheck({ ...expectedAction, metadata: '{"a":1}' }, state);
      const result = action(body);
      expect(result.source).to.equal('recheck');
      expect(result.action).to.deep.equal({ ...expectedAction, metadata: '{"a":1}' });
      expect(result.state).to.deep.equal(state);
    });

    it('drops an empty NotificationMetadata', () => {
      expect(action(terminateEvent({ metadata: '' })).action).to.not.have.property('metadata');
    });
  });

  describe('ignored inputs', () => {
    const table: [string, unknown, RegExp][] = [
      ['the test notification', TEST_NOTIFICATION_MESSAGE, /test notification/],
      [
        'the test notification inside SNS',
        snsEnvelope(TEST_NOTIFICATION_MESSAGE),
        /test notification/,
      ],
      [
        'a launching transition (hook message)',
        hookMessage({ transition: 'autoscaling:EC2_INSTANCE_LAUNCHING' }),
        /EC2_INSTANCE_LAUNCHING/,
      ],
      [
        'a launching transition (EventBridge)',
        { ...terminateEvent(), 'detail-type': 'EC2 Instance-launch Lifecycle Action' },
        /not a terminate lifecycle action/,
      ],
      [
        'another Auto Scaling notification',
        { ...TEST_NOTIFICATION_MESSAGE, Event: 'autoscaling:EC2_INSTANCE_TERMINATE' },
        /not a lifecycle action/,
      ],
    ];
    for (const [name, input, reason] of table) {
      it(`ignores ${name}`, () => {
        const result = normaliseInput(input);
        expect(result.kind).to.equal('ignore');
        if (result.kind === 'ignore') expect(result.reason).to.match(reason);
      });
    }
  });

  describe('malformed inputs', () => {
    const detail = terminateEvent().detail;
    const table: [string, unknown, string][] = [
      ['text that is not JSON', '{"detail-type": ', 'body'],
      ['a JSON array', '[1,2]', 'body'],
      ['an unrelated object', { hello: 'world' }, 'body'],
      ['an event without a detail', { ...terminateEvent(), detail: undefined }, 'detail'],
      [
        'an event without a token',
        { ...terminateEvent(), detail: { ...detail, LifecycleActionToken: undefined } },
        'detail.LifecycleActionToken',
      ],
      [
        'an event with a numeric instance id',
        { ...terminateEvent(), detail: { ...detail, EC2InstanceId: 42 } },
        'detail.EC2InstanceId',
      ],
      [
        'an event with something else than an instance id',
        { ...terminateEvent(), detail: { ...detail, EC2InstanceId: 'web-1' } },
        'detail.EC2InstanceId',
      ],
      [
        'an event with a blank group',
        { ...terminateEvent(), detail: { ...detail, AutoScalingGroupName: '  ' } },
        'detail.AutoScalingGroupName',
      ],
      [
        'a hook message without a hook name',
        { ...hookMessage(), LifecycleHookName: undefined },
        'LifecycleHookName',
      ],
      [
        'an SNS envelope whose Message is not JSON',
        { Type: 'Notification', Message: 'hi' },
        'Message',
      ],
      ['a recheck message of another version', { themis: 'recheck', v: 2 }, 'v'],
      [
        'a recheck message without its state',
        {
          ...JSON.parse(
            encodeRecheck(
              expectedAction,
              initialState(0, { heartbeatTimeoutSeconds: 60, globalTimeoutSeconds: 6000 }),
            ),
          ),
          attempt: undefined,
        },
        'attempt',
      ],
    ];
    for (const [name, input, field] of table) {
      it(`rejects ${name}, naming ${field}`, () => {
        expect(invalid(input).field).to.equal(field);
      });
    }
  });

  describe('the recheck message', () => {
    it('never loses a field on the way through the queue', () => {
      const state = initialState(1_714_564_800_000, {
        heartbeatTimeoutSeconds: 120,
        globalTimeoutSeconds: 12_000,
      });
      const decoded = decodeRecheck(JSON.parse(encodeRecheck(expectedAction, state)));
      expect(decoded).to.deep.equal({ action: expectedAction, state });
    });

    it('is marked and versioned', () => {
      const body = JSON.parse(
        encodeRecheck(
          expectedAction,
          initialState(0, { heartbeatTimeoutSeconds: 60, globalTimeoutSeconds: 6000 }),
        ),
      );
      expect(body).to.include({ themis: 'recheck', v: 1 });
    });
  });
});
