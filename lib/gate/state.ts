/**
 * What one gate step knows about a lifecycle action. Nothing is kept in memory between
 * steps: everything a later step needs travels in the recheck message, so any step can die
 * at any point and the next delivery carries on.
 *
 * Recheck messages are input like any other: a message that does not match the schema
 * exactly (instance id and token shapes, times not in the future, bounded counters) is an
 * InvalidEventError — a batch item failure that ends in the dead-letter queue and its alarm,
 * never an action on some other instance.
 */
import {
  GLOBAL_TIMEOUT_CAP_SECONDS,
  LAUNCHING,
  LIFECYCLE_PLACES,
  MAX_HEARTBEAT_TIMEOUT_SECONDS,
  MIN_HEARTBEAT_TIMEOUT_SECONDS,
  TERMINATING,
  type LifecyclePlace,
} from '../aws/facts.js';
import * as z from 'zod';
import { hasControlCharacter } from '../config.js';
import { InvalidEventError } from '../errors.js';
import type { LifecycleActionRef } from '../ports.js';

export { TERMINATING };

/** One lifecycle action, whatever input it came from. */
export interface LifecycleAction extends LifecycleActionRef {
  token: string;
  /** TERMINATING or LAUNCHING: other transitions are ignored before this shape is built. */
  transition: string;
  /** The hook's NotificationMetadata, verbatim. */
  metadata?: string;
  /** Warm pool groups only: where the instance comes from and goes to (warm-pool.ts). */
  origin?: LifecyclePlace;
  destination?: LifecyclePlace;
}

/** The hook's timing, read once with DescribeLifecycleHooks on the first step. */
export interface HookTiming {
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds: number;
}

export interface CommandInFlight {
  commandId: string;
  sentAtMs: number;
  /**
   * The document and the run-time limit the command was sent with, so that a command is
   * followed to its end under its own terms even when the configuration changes meanwhile.
   * Absent in messages of gates before v2 (the configuration, or its default, then applies).
   */
  documentName?: string;
  timeoutSeconds?: number;
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
  /**
   * When the hook's heartbeat timer last restarted, on our clock, measured *before* the
   * call (so never later than Auto Scaling's own record): the action's start, then each
   * recorded heartbeat.
   */
  lastHeartbeatMs: number;
  /** Heartbeats this chain has recorded. */
  heartbeats: number;
  /**
   * The mode the chain started in, kept for its whole life: a dry-run setting that changes
   * mid-hold never turns a live hold into an observation (or back). Absent only in messages
   * of gates before v2 (the current setting then decides, once, and is pinned from there).
   */
  dryRun?: boolean;
  /** The pre-termination command, once sent. */
  ssm?: CommandInFlight;
}

export function initialState(firstSeenMs: number, hook: HookTiming): StepState {
  return {
    firstSeenMs,
    attempt: 1,
    unknowns: 0,
    holdingNotified: false,
    hook,
    lastHeartbeatMs: firstSeenMs,
    heartbeats: 0,
  };
}

/** The recheck message format's marker and version; bump `v` on any incompatible change. */
export const RECHECK_MARKER = 'recheck';
export const RECHECK_VERSION = 2;
/** Versions still read, so messages in flight during an upgrade keep their chains. */
const READABLE_VERSIONS = [1, 2] as const;

/** How far a time in a message may lie ahead of our clock (clocks of two Lambdas differ). */
export const MAX_CLOCK_SKEW_MS = 60_000;
/**
 * The most steps one action can take: a 48 h hold at the shortest recheck (5 s) plus
 * retries. A larger count is not ours.
 */
export const MAX_ATTEMPTS = 100_000;

/** EC2 instance ids: `i-` and 8 (older) or 17 lowercase hex digits. */
export const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** LifecycleActionToken: a UUID. */
export const TOKEN_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Auto Scaling group and hook names: 1–255 characters, no control characters. */
const NAME = z
  .string()
  .min(1)
  .max(255)
  .refine((v) => !hasControlCharacter(v), 'must not contain control characters');

/** The largest NotificationMetadata Auto Scaling accepts is 1023 characters. */
const MAX_METADATA_CHARS = 1023;

function recheckSchema(nowMs: () => number) {
  const notFuture = (what: string) =>
    z.iso
      .datetime({ offset: true })
      .transform((s) => Date.parse(s))
      .refine((ms) => ms <= nowMs() + MAX_CLOCK_SKEW_MS, `${what} lies in the future`);
  return z
    .strictObject({
      themis: z.literal(RECHECK_MARKER),
      v: z.union(
        READABLE_VERSIONS.map((v) => z.literal(v)),
        `unsupported recheck version (this gate reads v${READABLE_VERSIONS.join(', v')})`,
      ),
      action: z.strictObject({
        groupName: NAME,
        hookName: NAME,
        instanceId: z.string().regex(INSTANCE_ID_PATTERN, 'must be an instance id (i-…)'),
        token: z.string().regex(TOKEN_PATTERN, 'must be a lifecycle action token (a UUID)'),
        transition: z.enum([TERMINATING, LAUNCHING]),
        metadata: z.string().max(MAX_METADATA_CHARS).optional(),
        // Written only for warm pool groups and launch chains, which older gates never carried.
        origin: z.enum(LIFECYCLE_PLACES).optional(),
        destination: z.enum(LIFECYCLE_PLACES).optional(),
      }),
      firstSeen: notFuture('firstSeen'),
      lastHeartbeat: notFuture('lastHeartbeat').optional(),
      heartbeats: z.number().int().min(0).max(MAX_ATTEMPTS).optional(),
      attempt: z.number().int().min(1).max(MAX_ATTEMPTS),
      unknowns: z.number().int().min(0).max(100),
      holdingNotified: z.boolean(),
      dryRun: z.boolean().optional(),
      hook: z.strictObject({
        // Auto Scaling's bounds: HeartbeatTimeout 30–7200 s, global timeout at most 48 h.
        heartbeatTimeoutSeconds: z
          .number()
          .int()
          .min(MIN_HEARTBEAT_TIMEOUT_SECONDS)
          .max(MAX_HEARTBEAT_TIMEOUT_SECONDS),
        globalTimeoutSeconds: z
          .number()
          .int()
          .min(MIN_HEARTBEAT_TIMEOUT_SECONDS)
          .max(GLOBAL_TIMEOUT_CAP_SECONDS),
      }),
      ssm: z
        .strictObject({
          // SSM command ids are UUIDs; the simulator's and older ids are word characters too.
          commandId: z.string().regex(/^[\w-]{1,64}$/, 'must be a command id'),
          sentAt: notFuture('ssm.sentAt'),
          documentName: z.string().min(1).max(200).optional(),
          timeoutSeconds: z.number().int().min(1).max(GLOBAL_TIMEOUT_CAP_SECONDS).optional(),
        })
        .optional(),
    })
    .refine((m) => m.lastHeartbeat === undefined || m.lastHeartbeat >= m.firstSeen, {
      message: 'lastHeartbeat lies before firstSeen',
      path: ['lastHeartbeat'],
    });
}

/**
 * Built once: zod compiles a schema on first use, which costs more than the parse itself.
 * The step's clock reaches the "not in the future" checks through `parseNowMs`, set just
 * before each (synchronous) parse.
 */
let parseNowMs = 0;
const RECHECK_SCHEMA = recheckSchema(() => parseNowMs);

/** The body of the message that brings the action back `delaySeconds` later. */
export function encodeRecheck(action: LifecycleAction, state: StepState): string {
  // Optional fields are written as they are: JSON.stringify leaves out an undefined one.
  return JSON.stringify({
    themis: RECHECK_MARKER,
    v: RECHECK_VERSION,
    action: {
      groupName: action.groupName,
      hookName: action.hookName,
      instanceId: action.instanceId,
      token: action.token,
      transition: action.transition,
      metadata: action.metadata,
      origin: action.origin,
      destination: action.destination,
    },
    firstSeen: iso(state.firstSeenMs),
    lastHeartbeat: iso(state.lastHeartbeatMs),
    heartbeats: state.heartbeats,
    attempt: state.attempt,
    unknowns: state.unknowns,
    holdingNotified: state.holdingNotified,
    dryRun: state.dryRun,
    hook: state.hook,
    ...(state.ssm
      ? {
          ssm: {
            commandId: state.ssm.commandId,
            sentAt: iso(state.ssm.sentAtMs),
            documentName: state.ssm.documentName,
            timeoutSeconds: state.ssm.timeoutSeconds,
          },
        }
      : {}),
  });
}

export function isRecheck(value: Record<string, unknown>): boolean {
  return value.themis === RECHECK_MARKER;
}

/** Read a recheck message; `nowMs` is this step's clock (times may not lie beyond it). */
export function decodeRecheck(
  value: unknown,
  nowMs: number,
): { action: LifecycleAction; state: StepState } {
  parseNowMs = nowMs;
  const parsed = RECHECK_SCHEMA.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEventError(
      // Stryker disable next-line OptionalChaining,StringLiteral: a failed parse has an issue
      `invalid recheck message: ${issue?.message ?? 'unreadable'}`,
      // Stryker disable next-line OptionalChaining: a failed parse has an issue
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
      ...(m.action.origin !== undefined ? { origin: m.action.origin } : {}),
      ...(m.action.destination !== undefined ? { destination: m.action.destination } : {}),
    },
    state: {
      firstSeenMs: m.firstSeen,
      attempt: m.attempt,
      unknowns: m.unknowns,
      holdingNotified: m.holdingNotified,
      hook: m.hook,
      // v1 gates heartbeated on every step but did not say when: the action's start is the
      // earliest it can have been, so the next heartbeat comes no later than it must.
      lastHeartbeatMs: m.lastHeartbeat ?? m.firstSeen,
      heartbeats: m.heartbeats ?? 0,
      ...(m.dryRun !== undefined ? { dryRun: m.dryRun } : {}),
      ...(m.ssm
        ? {
            ssm: {
              commandId: m.ssm.commandId,
              sentAtMs: m.ssm.sentAt,
              ...(m.ssm.documentName !== undefined ? { documentName: m.ssm.documentName } : {}),
              ...(m.ssm.timeoutSeconds !== undefined
                ? { timeoutSeconds: m.ssm.timeoutSeconds }
                : {}),
            },
          }
        : {}),
    },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
