/**
 * Every input the gate accepts, normalised into one LifecycleAction:
 *   - the EventBridge event "EC2 Instance-terminate Lifecycle Action" (direct, or as an SQS body);
 *   - the hook's own notification-target message (fields at the top level);
 *   - either of those inside an SNS envelope (`Type: "Notification"`, `Message`: the JSON text);
 *   - the gate's own recheck message (see state.ts).
 * `autoscaling:TEST_NOTIFICATION`, other lifecycle transitions and other Auto Scaling
 * notifications are "ignore" results. Anything unreadable is an InvalidEventError naming
 * the field.
 */
import { InvalidEventError } from '../errors.js';
import {
  decodeRecheck,
  isRecheck,
  TERMINATING,
  type LifecycleAction,
  type StepState,
} from './state.js';

export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
export const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';

export type InputSource = 'eventbridge' | 'hook-notification' | 'recheck';

export type GateInput =
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

/** `input` is an already parsed object (an event, a message body) or JSON text. */
export function normaliseInput(input: unknown): GateInput {
  return normalise(parseJson(input, 'body'), false);
}

function normalise(value: unknown, viaSns: boolean): GateInput {
  if (!isObject(value)) throw new InvalidEventError('expected a JSON object', 'body');

  if (value.Type === 'Notification' && 'Message' in value) {
    if (viaSns) throw new InvalidEventError('an SNS envelope inside an SNS envelope', 'Message');
    if (typeof value.Message !== 'string') {
      throw new InvalidEventError('must be the JSON text of the notification', 'Message');
    }
    return normalise(parseJson(value.Message, 'Message'), true);
  }

  if (isRecheck(value)) {
    const { action, state } = decodeRecheck(value);
    return { kind: 'action', source: 'recheck', viaSns, action, state };
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
  if (detailType !== TERMINATE_DETAIL_TYPE) {
    return {
      kind: 'ignore',
      source: 'eventbridge',
      viaSns,
      reason: `not a terminate lifecycle action (${detailType.slice(0, 80)})`,
    };
  }
  if (!isObject(value.detail)) throw new InvalidEventError('must be an object', 'detail');
  return fromLifecycleFields(value.detail, 'eventbridge', viaSns, 'detail.', value.time);
}

const INSTANCE_ID = /^i-[\w-]{1,60}$/;

function fromLifecycleFields(
  fields: Record<string, unknown>,
  source: InputSource,
  viaSns: boolean,
  prefix: string,
  time: unknown,
): GateInput {
  const transition = requireText(fields, 'LifecycleTransition', prefix);
  const groupName = requireText(fields, 'AutoScalingGroupName', prefix);
  if (transition !== TERMINATING) {
    return {
      kind: 'ignore',
      source,
      viaSns,
      reason: `transition ${transition.slice(0, 80)} is not ${TERMINATING}`,
      groupName,
    };
  }
  const instanceId = requireText(fields, 'EC2InstanceId', prefix);
  if (!INSTANCE_ID.test(instanceId)) {
    throw new InvalidEventError('must be an instance id (i-…)', `${prefix}EC2InstanceId`);
  }
  const metadata = fields.NotificationMetadata;
  if (metadata !== undefined && metadata !== null && typeof metadata !== 'string') {
    throw new InvalidEventError('must be a string', `${prefix}NotificationMetadata`);
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
      token: requireText(fields, 'LifecycleActionToken', prefix),
      transition,
      ...(typeof metadata === 'string' && metadata.trim() !== '' ? { metadata } : {}),
    },
    ...(Number.isFinite(eventTimeMs) ? { eventTimeMs } : {}),
  };
}

function requireText(fields: Record<string, unknown>, name: string, prefix: string): string {
  const value = fields[name];
  if (value === undefined || value === null)
    throw new InvalidEventError('is missing', `${prefix}${name}`);
  if (typeof value !== 'string')
    throw new InvalidEventError('must be a string', `${prefix}${name}`);
  const trimmed = value.trim();
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (trimmed === '' || trimmed.length > 1600 || /[\u0000-\u001f\u007f]/.test(trimmed)) {
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
