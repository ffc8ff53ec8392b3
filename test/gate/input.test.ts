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

/** The step's clock for these tests: after every time in the fixtures. */
const NOW = Date.parse('2024-05-01T13:00:00Z');

function action(input: unknown): Extract<GateInput, { kind: 'action' }> {
  const result = normaliseInput(input, NOW);
  if (result.kind !== 'action') throw new Error(`expected an action, got ${result.kind}`);
  return result;
}

function invalid(input: unknown): InvalidEventError {
  try {
    normaliseInput(input, NOW);
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
        const result = normaliseInput(input, NOW);
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
      ['a recheck message of another version', { themis: 'recheck', v: 3 }, 'v'],
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
      const decoded = decodeRecheck(JSON.parse(encodeRecheck(expectedAction, state)), NOW);
      expect(decoded).to.deep.equal({ action: expectedAction, state });
    });

    it('is marked and versioned', () => {
      const body = JSON.parse(
        encodeRecheck(
          expectedAction,
          initialState(0, { heartbeatTimeoutSeconds: 60, globalTimeoutSeconds: 6000 }),
        ),
      );
      expect(body).to.include({ themis: 'recheck', v: 2 });
    });
  });

  describe('the recheck schema', () => {
    const good = () =>
      JSON.parse(
        encodeRecheck(expectedAction, {
          ...initialState(Date.parse('2024-05-01T12:00:00Z'), {
            heartbeatTimeoutSeconds: 300,
            globalTimeoutSeconds: 30_000,
          }),
          dryRun: false,
        }),
      ) as Record<string, unknown> & { action: Record<string, unknown> };
    const withAction = (changes: Record<string, unknown>) => {
      const m = good();
      return { ...m, action: { ...m.action, ...changes } };
    };
    const table: [string, unknown, string][] = [
      [
        'an instance id that is not i- and 8 or 17 hex digits',
        withAction({ instanceId: 'i-0abc' }),
        'action.instanceId',
      ],
      [
        'an instance id with upper-case or foreign characters',
        withAction({ instanceId: 'i-0ABC1234DEF567890' }),
        'action.instanceId',
      ],
      ['a token that is not a UUID', withAction({ token: 'not-a-token' }), 'action.token'],
      [
        'a transition other than terminating',
        withAction({ transition: 'autoscaling:EC2_INSTANCE_LAUNCHING' }),
        'action.transition',
      ],
      [
        'a group name with a control character',
        withAction({ groupName: 'web\nprod' }),
        'action.groupName',
      ],
      [
        'a first sight in the future beyond the clock skew',
        { ...good(), firstSeen: '2024-05-01T13:01:01Z' },
        'firstSeen',
      ],
      [
        'a last heartbeat in the future',
        { ...good(), lastHeartbeat: '2024-05-01T14:00:00Z' },
        'lastHeartbeat',
      ],
      [
        'a last heartbeat before the first sight',
        { ...good(), lastHeartbeat: '2024-05-01T11:00:00Z' },
        'lastHeartbeat',
      ],
      ['a negative unknown count', { ...good(), unknowns: -1 }, 'unknowns'],
      ['an unbounded attempt count', { ...good(), attempt: 10_000_000 }, 'attempt'],
      ['a fractional attempt', { ...good(), attempt: 1.5 }, 'attempt'],
      [
        'a HeartbeatTimeout Auto Scaling would not accept',
        { ...good(), hook: { heartbeatTimeoutSeconds: 10, globalTimeoutSeconds: 1000 } },
        'hook.heartbeatTimeoutSeconds',
      ],
      ['an unknown field', { ...good(), extra: true }, ''],
      [
        'a command sent in the future',
        { ...good(), ssm: { commandId: 'c1', sentAt: '2024-05-02T00:00:00Z' } },
        'ssm.sentAt',
      ],
    ];
    for (const [name, message, field] of table) {
      it(`refuses ${name}`, () => {
        const err = invalid(message);
        if (field) expect(err.field).to.equal(field);
        expect(err.message).to.contain('invalid recheck message');
      });
    }

    it('accepts times a little ahead of the clock (two Lambdas never agree exactly)', () => {
      expect(
        action({
          ...good(),
          firstSeen: '2024-05-01T13:00:30Z',
          lastHeartbeat: '2024-05-01T13:00:30Z',
        }).state!.firstSeenMs,
      ).to.equal(Date.parse('2024-05-01T13:00:30Z'));
    });

    it('still reads a message of the previous version, with safe defaults for what it lacks', () => {
      const rest: Record<string, unknown> = good();
      for (const key of ['lastHeartbeat', 'heartbeats', 'dryRun']) delete rest[key];
      const old = action({ ...rest, v: 1 });
      expect(old.state).to.include({
        lastHeartbeatMs: Date.parse('2024-05-01T12:00:00Z'),
        heartbeats: 0,
      });
      expect(old.state).to.not.have.property('dryRun');
    });
  });

  describe('envelopes', () => {
    it('reads the hook notification as the message of an SNS event (a topic invoking the gate)', () => {
      const result = normaliseInput(JSON.stringify(hookMessage()), NOW, true);
      expect(result.kind).to.equal('action');
      expect(result.viaSns).to.equal(true);
    });

    it('drops the test notification inside an SNS envelope inside an SNS message', () => {
      const result = normaliseInput(
        JSON.stringify(snsEnvelope(TEST_NOTIFICATION_MESSAGE)),
        NOW,
        true,
      );
      expect(result).to.include({ kind: 'ignore', reason: 'test notification' });
    });

    it('drops a test notification dressed as an EventBridge event', () => {
      const event = { ...terminateEvent(), detail: { ...TEST_NOTIFICATION_MESSAGE } };
      expect(normaliseInput(event, NOW)).to.include({
        kind: 'ignore',
        reason: 'test notification',
      });
    });

    it('refuses envelopes nested deeper than an SNS message inside an SNS event', () => {
      const nested = JSON.stringify(snsEnvelope(snsEnvelope(hookMessage())));
      expect(() => normaliseInput(nested, NOW, true)).to.throw(InvalidEventError, /too deep/);
    });
  });
});
