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
        'a transition that is neither launching nor terminating (hook message)',
        hookMessage({ transition: 'autoscaling:EC2_INSTANCE_LAUNCH_ERROR' }),
        /EC2_INSTANCE_LAUNCH_ERROR is neither/,
      ],
      [
        'an Auto Scaling event that is not a lifecycle action (EventBridge)',
        { ...terminateEvent(), 'detail-type': 'EC2 Instance Launch Successful' },
        /not a lifecycle action \(EC2 Instance Launch Successful\)/,
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
        'a transition other than terminating or launching',
        withAction({ transition: 'autoscaling:EC2_INSTANCE_LAUNCH_ERROR' }),
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

// Added for the mutation run (docs/mutation.md): what an envelope is and is not, what each
// refusal tells the operator, and what the recheck message carries. Each test names the
// behaviour a surviving mutant broke.
describe('gate input: refusals that say why, envelopes that are not', () => {
  const detail = terminateEvent().detail;
  const withDetail = (changes: Record<string, unknown>) => ({
    ...terminateEvent(),
    detail: { ...detail, ...changes },
  });

  describe('what is and is not an SNS envelope', () => {
    it('does not unwrap a subscription confirmation: it is not a notification', () => {
      const confirmation = {
        Type: 'SubscriptionConfirmation',
        Message: 'You have chosen to subscribe to the topic',
        SubscribeURL: 'https://127.0.0.1/confirm',
      };
      expect(invalid(confirmation).message).to.equal(
        'body: not a lifecycle action event, hook notification or recheck message',
      );
    });

    it('does not take a Notification without a Message for an envelope', () => {
      expect(invalid({ Type: 'Notification', Subject: 'hello' }).field).to.equal('body');
    });

    it('says the Message of an envelope must be JSON text, not an object', () => {
      const envelope = { ...snsEnvelope(hookMessage()), Message: hookMessage() };
      expect(invalid(envelope).message).to.equal(
        'Message: must be the JSON text of the notification',
      );
    });

    it('says envelopes are nested too deep, naming Message', () => {
      const nested = JSON.stringify(snsEnvelope(snsEnvelope(hookMessage())));
      expect(() => normaliseInput(nested, NOW, true)).to.throw(
        InvalidEventError,
        /^Message: SNS envelopes nested too deep$/,
      );
    });
  });

  describe('what an operator is told', () => {
    const table: [string, unknown, string][] = [
      ['text that is not JSON', '{"detail-type": ', 'body: is not valid JSON'],
      ['a JSON array', '[1,2]', 'body: expected a JSON object'],
      ['null', null, 'body: expected a JSON object'],
      [
        'an object with an Event that is not Auto Scaling’s',
        { Event: 'ec2:Something' },
        'body: not a lifecycle action event, hook notification or recheck message',
      ],
      ['a detail-type that is not text', { 'detail-type': 5 }, 'detail-type: must be a string'],
      [
        'an event whose detail is a string',
        { ...terminateEvent(), detail: 'x' },
        'detail: must be an object',
      ],
      [
        'a hook message without its token',
        { ...hookMessage(), LifecycleActionToken: undefined },
        'LifecycleActionToken: is missing',
      ],
      [
        'an event whose token is null',
        withDetail({ LifecycleActionToken: null }),
        'detail.LifecycleActionToken: is missing',
      ],
      [
        'an event whose group is a number',
        withDetail({ AutoScalingGroupName: 7 }),
        'detail.AutoScalingGroupName: must be a string',
      ],
      [
        'an event whose instance id is not one',
        withDetail({ EC2InstanceId: 'web-1' }),
        'detail.EC2InstanceId: must be an instance id (i-…)',
      ],
      [
        'an event whose token is not a UUID',
        withDetail({ LifecycleActionToken: 'not-a-token' }),
        'detail.LifecycleActionToken: must be a lifecycle action token (a UUID)',
      ],
      [
        'an event whose metadata is a number',
        withDetail({ NotificationMetadata: 42 }),
        'detail.NotificationMetadata: must be a string',
      ],
      [
        'an event whose metadata is longer than Auto Scaling allows',
        withDetail({ NotificationMetadata: 'm'.repeat(1024) }),
        'detail.NotificationMetadata: is longer than 1023 characters',
      ],
      [
        'an event whose hook name holds a control character',
        withDetail({ LifecycleHookName: 'hook\u0007' }),
        'detail.LifecycleHookName: must be non-empty text without control characters',
      ],
      [
        'an event whose group name is longer than 255 characters',
        withDetail({ AutoScalingGroupName: 'g'.repeat(256) }),
        'detail.AutoScalingGroupName: must be non-empty text without control characters',
      ],
    ];
    for (const [name, input, message] of table) {
      it(`refuses ${name}: "${message}"`, () => {
        expect(invalid(input).message).to.equal(message);
      });
    }

    const ids: [string, boolean][] = [
      ['i-0abc1234', true],
      ['i-0abc1234def567890', true],
      ['i-0abc123', false],
      ['i-0abc1234def5678901', false],
      ['i-0abc1234def567890x', false],
    ];
    for (const [instanceId, ok] of ids) {
      it(`${ok ? 'accepts' : 'refuses'} the instance id ${instanceId}`, () => {
        const input = withDetail({ EC2InstanceId: instanceId });
        if (ok) expect(action(input).action.instanceId).to.equal(instanceId);
        else expect(invalid(input).field).to.equal('detail.EC2InstanceId');
      });
    }

    for (const token of [`x${TOKEN}`, `${TOKEN}x`]) {
      it(`refuses a token with something around the UUID (${token.slice(0, 6)}…)`, () => {
        expect(invalid(withDetail({ LifecycleActionToken: token })).field).to.equal(
          'detail.LifecycleActionToken',
        );
      });
    }
  });

  describe('what is accepted as it is', () => {
    it('accepts metadata of exactly 1023 characters, and a null one as none', () => {
      const longest = 'm'.repeat(1023);
      expect(action(withDetail({ NotificationMetadata: longest })).action.metadata).to.equal(
        longest,
      );
      expect(action(withDetail({ NotificationMetadata: null })).action).to.not.have.property(
        'metadata',
      );
    });

    it('drops metadata that is only spaces', () => {
      expect(action(terminateEvent({ metadata: '   ' })).action).to.not.have.property('metadata');
    });

    it('accepts a group name of 255 characters', () => {
      const name = 'g'.repeat(255);
      expect(action(withDetail({ AutoScalingGroupName: name })).action.groupName).to.equal(name);
    });

    it('takes no event time from a time that is not text', () => {
      expect(action({ ...terminateEvent(), time: 123 })).to.not.have.property('eventTimeMs');
    });

    it('names the token when a terminating hook message lacks it (not "not a lifecycle action")', () => {
      const message: Record<string, unknown> = { ...hookMessage() };
      delete message.LifecycleActionToken;
      expect(invalid(message).field).to.equal('LifecycleActionToken');
    });
  });

  describe('what is ignored, and where it came from', () => {
    it('says a test notification came from the hook, with its group', () => {
      expect(normaliseInput(TEST_NOTIFICATION_MESSAGE, NOW)).to.deep.equal({
        kind: 'ignore',
        source: 'hook-notification',
        viaSns: false,
        reason: 'test notification',
        groupName: GROUP,
      });
    });

    it('says another Auto Scaling notification came from the hook, with its group', () => {
      const launch = { ...TEST_NOTIFICATION_MESSAGE, Event: 'autoscaling:EC2_INSTANCE_LAUNCH' };
      expect(normaliseInput(launch, NOW)).to.deep.equal({
        kind: 'ignore',
        source: 'hook-notification',
        viaSns: false,
        reason: 'not a lifecycle action (autoscaling:EC2_INSTANCE_LAUNCH)',
        groupName: GROUP,
      });
    });

    it('carries no group name that is not text, and cuts a long one to 255 characters', () => {
      const noGroup = { ...TEST_NOTIFICATION_MESSAGE, AutoScalingGroupName: 7 };
      expect(normaliseInput(noGroup, NOW)).to.not.have.property('groupName');
      const long = { ...TEST_NOTIFICATION_MESSAGE, AutoScalingGroupName: 'g'.repeat(300) };
      expect(normaliseInput(long, NOW)).to.include({ groupName: 'g'.repeat(255) });
    });

    it('says an EventBridge test notification and another event came from EventBridge', () => {
      const test = { ...terminateEvent(), detail: { ...TEST_NOTIFICATION_MESSAGE } };
      expect(normaliseInput(test, NOW)).to.include({ source: 'eventbridge' });
      const other = { ...terminateEvent(), 'detail-type': 'EC2 Instance Launch Successful' };
      expect(normaliseInput(other, NOW)).to.include({ source: 'eventbridge' });
    });

    it('keeps the reason short when a sender puts a long name in it', () => {
      const long = 'X'.repeat(500);
      const inputs = [
        { ...TEST_NOTIFICATION_MESSAGE, Event: `autoscaling:${long}` },
        { ...terminateEvent(), 'detail-type': long },
        hookMessage({ transition: long.slice(0, 250) }),
      ];
      for (const input of inputs) {
        const result = normaliseInput(input, NOW);
        expect(result.kind).to.equal('ignore');
        if (result.kind === 'ignore') expect(result.reason.length).to.be.below(200);
      }
    });
  });

  describe('the recheck message, field by field', () => {
    const hook = { heartbeatTimeoutSeconds: 120, globalTimeoutSeconds: 12_000 };
    const firstSeenMs = Date.parse('2024-05-01T12:00:00Z');
    const encoded = (state: Parameters<typeof encodeRecheck>[1]) =>
      JSON.parse(encodeRecheck(expectedAction, state)) as Record<string, unknown>;

    it('starts an action not yet announced, at attempt 1, with no unknowns or heartbeats', () => {
      expect(initialState(firstSeenMs, hook)).to.deep.equal({
        firstSeenMs,
        attempt: 1,
        unknowns: 0,
        holdingNotified: false,
        hook,
        lastHeartbeatMs: firstSeenMs,
        heartbeats: 0,
      });
    });

    for (const dryRun of [true, false]) {
      it(`carries the pinned mode (dryRun ${dryRun}) and a command with its own terms`, () => {
        const state = {
          ...initialState(firstSeenMs, hook),
          heartbeats: 3,
          dryRun,
          ssm: {
            commandId: '2f8a5e4c-8d2b-11e6-9a3f-0a1b2c3d4e5f',
            sentAtMs: firstSeenMs + 60_000,
            documentName: 'AWS-RunShellScript',
            timeoutSeconds: 600,
          },
        };
        expect(decodeRecheck(encoded(state), NOW)).to.deep.equal({
          action: expectedAction,
          state,
        });
      });
    }

    it('carries a command sent by an older gate without its terms', () => {
      const state = {
        ...initialState(firstSeenMs, hook),
        ssm: { commandId: 'cmd-1', sentAtMs: firstSeenMs },
      };
      expect(decodeRecheck(encoded(state), NOW).state).to.deep.equal(state);
    });

    const message = (changes: Record<string, unknown>) => ({
      ...encoded(initialState(firstSeenMs, hook)),
      ...changes,
    });
    const refusal = (changes: Record<string, unknown>) => invalid(message(changes));
    const future = new Date(NOW + 61_000).toISOString();

    it('accepts times up to a minute ahead, with any offset, and refuses later ones by name', () => {
      const edge = new Date(NOW + 60_000).toISOString();
      expect(action(message({ firstSeen: edge, lastHeartbeat: edge })).state?.firstSeenMs).to.equal(
        NOW + 60_000,
      );
      expect(
        action(message({ firstSeen: '2024-05-01T14:00:00+02:00' })).state?.firstSeenMs,
      ).to.equal(firstSeenMs);
      expect(refusal({ firstSeen: future }).message).to.equal(
        'firstSeen: invalid recheck message: firstSeen lies in the future',
      );
      expect(refusal({ lastHeartbeat: future }).message).to.equal(
        'lastHeartbeat: invalid recheck message: lastHeartbeat lies in the future',
      );
      const ssm = { commandId: 'cmd-1', sentAt: future };
      expect(refusal({ ssm }).message).to.equal(
        'ssm.sentAt: invalid recheck message: ssm.sentAt lies in the future',
      );
    });

    it('refuses a heartbeat before the action began, saying so', () => {
      const before = new Date(firstSeenMs - 1000).toISOString();
      expect(refusal({ lastHeartbeat: before }).message).to.equal(
        'lastHeartbeat: invalid recheck message: lastHeartbeat lies before firstSeen',
      );
    });

    it('says which versions it reads', () => {
      expect(refusal({ v: 3 }).message).to.equal(
        'v: invalid recheck message: unsupported recheck version (this gate reads v1, v2)',
      );
    });

    const badActions: [string, Record<string, unknown>, string][] = [
      ['an instance id that is not one', { instanceId: 'web-1' }, 'must be an instance id (i-…)'],
      ['a token that is not a UUID', { token: 'abc' }, 'must be a lifecycle action token (a UUID)'],
      [
        'a group name with a control character',
        { groupName: 'g\u0007' },
        'must not contain control characters',
      ],
    ];
    for (const [what, change, why] of badActions) {
      it(`refuses ${what}, saying "${why}"`, () => {
        const field = Object.keys(change)[0];
        expect(refusal({ action: { ...expectedAction, ...change } }).message).to.equal(
          `action.${field}: invalid recheck message: ${why}`,
        );
      });
    }

    const commandIds: [string, boolean][] = [
      ['2f8a5e4c-8d2b-11e6-9a3f-0a1b2c3d4e5f', true],
      ['cmd_1-a', true],
      ['c'.repeat(64), true],
      ['c'.repeat(65), false],
      ['bad id', false],
      ['2f8a5e4c-8d2b-11e6-9a3f-0a1b2c3d4e5f; x', false],
      ['x; 2f8a5e4c-8d2b-11e6-9a3f-0a1b2c3d4e5f', false],
      [' '.repeat(36), false],
    ];
    for (const [commandId, ok] of commandIds) {
      it(`${ok ? 'accepts' : 'refuses'} the command id ${JSON.stringify(commandId.slice(0, 42))}`, () => {
        const ssm = { commandId, sentAt: new Date(firstSeenMs).toISOString() };
        if (ok) expect(action(message({ ssm })).state?.ssm?.commandId).to.equal(commandId);
        else expect(refusal({ ssm }).message).to.match(/^ssm\.commandId: .*must be a command id$/);
      });
    }

    it('refuses an empty document name or one over 200 characters, and a zero time limit', () => {
      const sentAt = new Date(firstSeenMs).toISOString();
      for (const extra of [
        { documentName: '' },
        { documentName: 'd'.repeat(201) },
        { timeoutSeconds: 0 },
      ]) {
        expect(refusal({ ssm: { commandId: 'cmd-1', sentAt, ...extra } }).field).to.match(/^ssm\./);
      }
      const longest = {
        commandId: 'cmd-1',
        sentAt,
        documentName: 'd'.repeat(200),
        timeoutSeconds: 172_800,
      };
      expect(action(message({ ssm: longest })).state?.ssm).to.include({
        documentName: 'd'.repeat(200),
        timeoutSeconds: 172_800,
      });
    });
  });
});
