/**
 * Every input the gate accepts, normalised into one LifecycleAction:
 *   - the EventBridge events "EC2 Instance-terminate Lifecycle Action" and "EC2 Instance-launch
 *     Lifecycle Action" (direct, or as an SQS body), with the warm pool's `Origin` and
 *     `Destination` when the group has one (an unknown value of either is dropped: the
 *     transition alone then says what happens, see warm-pool.ts);
 *   - the hook's own notification-target message (fields at the top level);
 *   - either of those inside an SNS envelope (`Type: "Notification"`, `Message`: the JSON
 *     text) — an SQS body from a topic subscription, or the message of an SNS event that
 *     invokes the gate directly (the handler passes `Records[].Sns.Message` here);
 *   - the gate's own recheck message (see state.ts), and its pending notices
 *     (notice-retry.ts).
 * `autoscaling:TEST_NOTIFICATION` (in any envelope), other lifecycle transitions and other
 * Auto Scaling notifications are "ignore" results. Anything unreadable is an
 * InvalidEventError naming the field.
 */
import {
  LAUNCH_DETAIL_TYPE,
  LAUNCHING,
  PLACE_WARM_POOL,
  TERMINATE_DETAIL_TYPE,
  TEST_NOTIFICATION,
} from '../aws/facts.js';
import { hasControlCharacter } from '../text.js';
import { InvalidEventError } from '../errors.js';
import { decodePendingNotice, isPendingNotice, type PendingNotice } from './notice-retry.js';
import { isLifecyclePlace } from './warm-pool.js';
import {
  decodeRecheck,
  INSTANCE_ID_PATTERN,
  isRecheck,
  TERMINATING,
  TOKEN_PATTERN,
  type LifecycleAction,
  type StepState,
} from './state.js';

export { TERMINATE_DETAIL_TYPE, TEST_NOTIFICATION };

export type InputSource = 'eventbridge' | 'hook-notification' | 'recheck' | 'notice';

/** Envelopes inside envelopes: an SNS message that is itself an SNS envelope, and no deeper. */
const MAX_SNS_DEPTH = 2;

export type GateInput =
  | { kind: 'notice'; source: 'notice'; viaSns: boolean; pending: PendingNotice }
  | { kind: 'ignore'; source: InputSource; viaSns: boolean; reason: string; groupName?: string }
  | {
      kind: 'action';
      source: InputSource;
      viaSns: boolean;
      action: LifecycleAction;
      /** The event's own time (EventBridge `time`, hook message `Time`), when readable. */
      eventTimeMs?: number;
      /** Present for recheck messages: everything the earlier steps learnt. */
      state?: StepState;
    };

/**
 * `input` is an already parsed object (an event, a message body) or JSON text; `viaSns` when
 * it is the message of an SNS event. `nowMs`: times in the gate's own messages may not lie
 * beyond it.
 */
export function normaliseInput(input: unknown, nowMs: number, viaSns = false): GateInput {
  return normalise(parseJson(input, 'body'), viaSns ? 1 : 0, nowMs);
}

function normalise(value: unknown, snsDepth: number, nowMs: number): GateInput {
  if (!isObject(value)) throw new InvalidEventError('expected a JSON object', 'body');
  const viaSns = snsDepth > 0;

  if (value.Type === 'Notification' && 'Message' in value) {
    if (snsDepth >= MAX_SNS_DEPTH) {
      throw new InvalidEventError('SNS envelopes nested too deep', 'Message');
    }
    if (typeof value.Message !== 'string') {
      throw new InvalidEventError('must be the JSON text of the notification', 'Message');
    }
    return normalise(parseJson(value.Message, 'Message'), snsDepth + 1, nowMs);
  }

  if (isRecheck(value)) {
    const { action, state } = decodeRecheck(value, nowMs);
    return { kind: 'action', source: 'recheck', viaSns, action, state };
  }
  if (isPendingNotice(value)) {
    return { kind: 'notice', source: 'notice', viaSns, pending: decodePendingNotice(value, nowMs) };
  }

  if ('detail-type' in value) return fromEventBridge(value, viaSns);

  if (value.Event === TEST_NOTIFICATION) {
    return {
      kind: 'ignore',
      source: 'hook-notification',
      viaSns,
      reason: 'test notification',
      ...groupOf(value),
    };
  }
  if ('LifecycleTransition' in value || 'LifecycleActionToken' in value) {
    return fromLifecycleFields(value, 'hook-notification', viaSns, '', value.Time);
  }
  if (typeof value.Event === 'string' && value.Event.startsWith('autoscaling:')) {
    return {
      kind: 'ignore',
      source: 'hook-notification',
      viaSns,
      reason: `not a lifecycle action (${value.Event.slice(0, 80)})`,
      ...groupOf(value),
    };
  }
  throw new InvalidEventError(
    'not a lifecycle action event, hook notification or recheck message',
    'body',
  );
}

function fromEventBridge(value: Record<string, unknown>, viaSns: boolean): GateInput {
  const detailType = value['detail-type'];
  if (typeof detailType !== 'string')
    throw new InvalidEventError('must be a string', 'detail-type');
  if (detailType !== TERMINATE_DETAIL_TYPE && detailType !== LAUNCH_DETAIL_TYPE) {
    return {
      kind: 'ignore',
      source: 'eventbridge',
      viaSns,
      reason: `not a lifecycle action (${detailType.slice(0, 80)})`,
    };
  }
  if (!isObject(value.detail)) throw new InvalidEventError('must be an object', 'detail');
  if (value.detail.Event === TEST_NOTIFICATION) {
    return { kind: 'ignore', source: 'eventbridge', viaSns, reason: 'test notification' };
  }
  const result = fromLifecycleFields(value.detail, 'eventbridge', viaSns, 'detail.', value.time);
  // A launch detail-type around a terminating transition (or the reverse) is not an event
  // Auto Scaling sends: refused, not guessed at.
  if (result.kind === 'action') {
    const launching = result.action.transition === LAUNCHING;
    if (launching !== (detailType === LAUNCH_DETAIL_TYPE)) {
      throw new InvalidEventError(
        `does not match detail-type "${detailType}"`,
        'detail.LifecycleTransition',
      );
    }
  }
  return result;
}

function fromLifecycleFields(
  fields: Record<string, unknown>,
  source: InputSource,
  viaSns: boolean,
  prefix: string,
  time: unknown,
): GateInput {
  const transition = requireText(fields, 'LifecycleTransition', prefix);
  const groupName = requireText(fields, 'AutoScalingGroupName', prefix);
  if (transition !== TERMINATING && transition !== LAUNCHING) {
    return {
      kind: 'ignore',
      source,
      viaSns,
      reason: `transition ${transition.slice(0, 80)} is neither ${TERMINATING} nor ${LAUNCHING}`,
      groupName,
    };
  }
  const instanceId = requireText(fields, 'EC2InstanceId', prefix);
  // The same shapes the recheck message requires: an action the gate takes up can be carried.
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new InvalidEventError('must be an instance id (i-…)', `${prefix}EC2InstanceId`);
  }
  const token = requireText(fields, 'LifecycleActionToken', prefix);
  if (!TOKEN_PATTERN.test(token)) {
    throw new InvalidEventError(
      'must be a lifecycle action token (a UUID)',
      `${prefix}LifecycleActionToken`,
    );
  }
  const metadata = fields.NotificationMetadata;
  if (metadata !== undefined && metadata !== null && typeof metadata !== 'string') {
    throw new InvalidEventError('must be a string', `${prefix}NotificationMetadata`);
  }
  // Auto Scaling's own limit; the recheck message carries the metadata and checks it too.
  if (typeof metadata === 'string' && metadata.length > 1023) {
    throw new InvalidEventError('is longer than 1023 characters', `${prefix}NotificationMetadata`);
  }
  const eventTimeMs = typeof time === 'string' ? Date.parse(time) : NaN;
  return {
    kind: 'action',
    source,
    viaSns,
    action: {
      groupName,
      hookName: requireText(fields, 'LifecycleHookName', prefix),
      instanceId,
      token,
      transition,
      ...(typeof metadata === 'string' && metadata.trim() !== '' ? { metadata } : {}),
      ...warmPoolPlaces(fields),
    },
    ...(Number.isFinite(eventTimeMs) ? { eventTimeMs } : {}),
  };
}

/**
 * `Origin` and `Destination`, kept only when one of them is the warm pool: without it they
 * say nothing the transition does not (warm-pool.ts), and the recheck message stays as older
 * gates write it.
 */
function warmPoolPlaces(
  fields: Record<string, unknown>,
): Pick<LifecycleAction, 'origin' | 'destination'> {
  const origin = isLifecyclePlace(fields.Origin) ? fields.Origin : undefined;
  const destination = isLifecyclePlace(fields.Destination) ? fields.Destination : undefined;
  if (origin !== PLACE_WARM_POOL && destination !== PLACE_WARM_POOL) return {};
  return { ...(origin ? { origin } : {}), ...(destination ? { destination } : {}) };
}

function requireText(fields: Record<string, unknown>, name: string, prefix: string): string {
  const value = fields[name];
  if (value === undefined || value === null)
    throw new InvalidEventError('is missing', `${prefix}${name}`);
  if (typeof value !== 'string')
    throw new InvalidEventError('must be a string', `${prefix}${name}`);
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > 255 || hasControlCharacter(trimmed)) {
    throw new InvalidEventError(
      'must be non-empty text without control characters',
      `${prefix}${name}`,
    );
  }
  return trimmed;
}

function groupOf(value: Record<string, unknown>): { groupName?: string } {
  return typeof value.AutoScalingGroupName === 'string'
    ? { groupName: value.AutoScalingGroupName.slice(0, 255) }
    : {};
}

function parseJson(input: unknown, field: string): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    throw new InvalidEventError('is not valid JSON', field);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
