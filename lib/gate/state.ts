/**
 * What one gate step knows about a lifecycle action. Nothing is kept in memory between
 * steps: everything a later step needs travels in the recheck message, so any step can die
 * at any point and the next delivery carries on.
 */
import { z } from 'zod';
import { InvalidEventError } from '../errors.js';
import type { LifecycleActionRef } from '../ports.js';

export const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';

/** One lifecycle action, whatever input it came from. */
export interface LifecycleAction extends LifecycleActionRef {
  token: string;
  /** Always TERMINATING here: other transitions are ignored before this shape is built. */
  transition: string;
  /** The hook's NotificationMetadata, verbatim. */
  metadata?: string;
}

/** The hook's timing, read once with DescribeLifecycleHooks on the first step. */
export interface HookTiming {
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds: number;
}

export interface CommandInFlight {
  commandId: string;
  sentAtMs: number;
}

export interface StepState {
  /** When the action started: the event's time when it has one, else the first step's clock. */
  firstSeenMs: number;
  /** This step's number, 1 for the first. */
  attempt: number;
  /** Unknown answers in a row before this step. */
  unknowns: number;
  /** The "holding" notice went out already (it is sent on the first busy step only). */
  holdingNotified: boolean;
  hook: HookTiming;
  /** The pre-termination command, once sent. */
  ssm?: CommandInFlight;
}

export function initialState(firstSeenMs: number, hook: HookTiming): StepState {
  return { firstSeenMs, attempt: 1, unknowns: 0, holdingNotified: false, hook };
}

/** The recheck message format's marker and version; bump `v` on any incompatible change. */
export const RECHECK_MARKER = 'recheck';
export const RECHECK_VERSION = 1;

const isoTime = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
const text = z.string().min(1).max(1600);

const recheckSchema = z.object({
  themis: z.literal(RECHECK_MARKER),
  v: z.literal(
    RECHECK_VERSION,
    `unsupported recheck version (this gate reads v${RECHECK_VERSION})`,
  ),
  action: z.object({
    groupName: text,
    hookName: text,
    instanceId: text,
    token: text,
    transition: text,
    metadata: z.string().max(4096).optional(),
  }),
  firstSeen: isoTime,
  attempt: z.number().int().min(1),
  unknowns: z.number().int().min(0),
  holdingNotified: z.boolean(),
  hook: z.object({
    heartbeatTimeoutSeconds: z.number().int().positive(),
    globalTimeoutSeconds: z.number().int().positive(),
  }),
  ssm: z.object({ commandId: text, sentAt: isoTime }).optional(),
});

/** The body of the message that brings the action back `delaySeconds` later. */
export function encodeRecheck(action: LifecycleAction, state: StepState): string {
  return JSON.stringify({
    themis: RECHECK_MARKER,
    v: RECHECK_VERSION,
    action: {
      groupName: action.groupName,
      hookName: action.hookName,
      instanceId: action.instanceId,
      token: action.token,
      transition: action.transition,
      ...(action.metadata !== undefined ? { metadata: action.metadata } : {}),
    },
    firstSeen: new Date(state.firstSeenMs).toISOString(),
    attempt: state.attempt,
    unknowns: state.unknowns,
    holdingNotified: state.holdingNotified,
    hook: state.hook,
    ...(state.ssm
      ? {
          ssm: {
            commandId: state.ssm.commandId,
            sentAt: new Date(state.ssm.sentAtMs).toISOString(),
          },
        }
      : {}),
  });
}

export function isRecheck(value: Record<string, unknown>): boolean {
  return value.themis === RECHECK_MARKER;
}

export function decodeRecheck(value: unknown): { action: LifecycleAction; state: StepState } {
  const parsed = recheckSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEventError(
      `invalid recheck message: ${issue?.message ?? 'unreadable'}`,
      issue?.path.join('.') || undefined,
    );
  }
  const m = parsed.data;
  return {
    action: {
      groupName: m.action.groupName,
      hookName: m.action.hookName,
      instanceId: m.action.instanceId,
      token: m.action.token,
      transition: m.action.transition,
      ...(m.action.metadata !== undefined ? { metadata: m.action.metadata } : {}),
    },
    state: {
      firstSeenMs: m.firstSeen,
      attempt: m.attempt,
      unknowns: m.unknowns,
      holdingNotified: m.holdingNotified,
      hook: m.hook,
      ...(m.ssm ? { ssm: { commandId: m.ssm.commandId, sentAtMs: m.ssm.sentAt } } : {}),
    },
  };
}
