/**
 * Outcome notices that could not be published yet. When Publish fails after the gate has
 * completed (or, in a dry run, decided) a lifecycle action, the step puts the notice itself
 * on the recheck queue as a "notice" message with a growing DelaySeconds; each delivery
 * publishes it again, until SNS takes it or the retry limit passes. This survives an SNS
 * outage of hours (the first retry comes within a minute), and the notice keeps its
 * `outcome-id`, so a duplicate is recognisable.
 *
 * The message is schema-checked like a recheck: it is input too.
 */
import * as z from 'zod';
import { hasControlCharacter } from '../config.js';
import { InvalidEventError } from '../errors.js';
import type { Notice } from '../ports.js';
import { MAX_RECHECK_SECONDS } from './config.js';
import { MAX_SUBJECT_LENGTH } from './notices.js';
import { MAX_CLOCK_SKEW_MS } from './state.js';

export const NOTICE_MARKER = 'notice';
export const NOTICE_VERSION = 1;

/** The first retry: within a minute of the failed Publish. */
export const FIRST_NOTICE_RETRY_SECONDS = 30;
/**
 * How long a notice is retried through the queue. Far beyond any SNS outage we expect to
 * ride out (the goal is 15 minutes), and well inside the queue's 4-day retention. Past it,
 * the message fails on each delivery (it is still published if SNS answers) until SQS moves
 * it to the dead-letter queue, whose alarm tells operators; the notice is kept there.
 */
export const NOTICE_RETRY_LIMIT_SECONDS = 24 * 3600;
/** SNS accepts 256 KB; our notices are a few KB, so anything larger is not ours. */
const MAX_MESSAGE_CHARS = 64 * 1024;

export interface PendingNotice {
  notice: Notice;
  /** Publish attempts so far (the one after the completion is the first). */
  attempts: number;
  /** When the first Publish failed. */
  firstFailedMs: number;
}

/** DelaySeconds before the next attempt: 30 s, 60 s, 120 s, … capped at SQS's 900 s. */
export function noticeRetryDelaySeconds(attempts: number): number {
  const exponent = Math.min(Math.max(0, attempts - 1), 10);
  return Math.min(MAX_RECHECK_SECONDS, FIRST_NOTICE_RETRY_SECONDS * 2 ** exponent);
}

/** Whether a notice that has failed since `firstFailedMs` is still retried through the queue. */
export function withinNoticeRetryLimit(firstFailedMs: number, nowMs: number): boolean {
  return nowMs - firstFailedMs < NOTICE_RETRY_LIMIT_SECONDS * 1000;
}

export function encodePendingNotice(pending: PendingNotice): string {
  return JSON.stringify({
    themis: NOTICE_MARKER,
    v: NOTICE_VERSION,
    notice: pending.notice,
    attempts: pending.attempts,
    firstFailed: new Date(pending.firstFailedMs).toISOString(),
  });
}

export function isPendingNotice(value: Record<string, unknown>): boolean {
  return value.themis === NOTICE_MARKER;
}

function noticeSchema(nowMs: number) {
  return z.strictObject({
    themis: z.literal(NOTICE_MARKER),
    v: z.literal(NOTICE_VERSION, `unsupported notice version (this gate reads v${NOTICE_VERSION})`),
    notice: z.strictObject({
      subject: z
        .string()
        .min(1)
        .max(MAX_SUBJECT_LENGTH)
        .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII'),
      message: z.string().min(1).max(MAX_MESSAGE_CHARS),
      attributes: z
        .record(
          z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be an attribute name'),
          z
            .string()
            .max(300)
            .refine((v) => !hasControlCharacter(v), 'must be one line of text'),
        )
        .refine((a) => Object.keys(a).length <= 10, 'at most 10 attributes'),
    }),
    attempts: z.number().int().min(1).max(10_000),
    firstFailed: z.iso
      .datetime({ offset: true })
      .transform((s) => Date.parse(s))
      .refine((ms) => ms <= nowMs + MAX_CLOCK_SKEW_MS, 'firstFailed lies in the future'),
  });
}

export function decodePendingNotice(value: unknown, nowMs: number): PendingNotice {
  const parsed = noticeSchema(nowMs).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEventError(
      `invalid notice message: ${issue?.message ?? 'unreadable'}`,
      issue?.path.join('.') || undefined,
    );
  }
  const m = parsed.data;
  return { notice: m.notice, attempts: m.attempts, firstFailedMs: m.firstFailed };
}
