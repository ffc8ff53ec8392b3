/**
 * What operators read: one SNS notice per outcome (and one when a hold starts). The subject
 * is short enough for SNS's subject limit (under 100 printable ASCII characters) and says
 * what happened to which instance; the body is a few plain sentences, then the JSON facts
 * for scripts. Message attributes `event` and `group` let subscriptions filter; outcome
 * notices carry `outcome-id`, the same for every notice about one lifecycle action's end,
 * so a duplicate (a retried step, a duplicate chain) can be recognised.
 *
 * Text from outside themis — probe bodies, SSM output, tag and metadata values — reaches a
 * notice only through `plainText`: control characters become spaces and the length is
 * bounded, in the body as in the subject.
 */
import { MAX_SUBJECT_CHARS } from '../aws/facts.js';
import { plainText } from '../text.js';
import { createHash } from 'node:crypto';
import type { LifecycleResult, Notice, ProbeStatus } from '../ports.js';
import { formatSeconds, type GoneCause } from './decide.js';
import { PASSAGES, type Passage } from './warm-pool.js';
import { releasedByThemis, retainedStateOf } from '../retain/decide.js';

export type NoticeEvent =
  | 'holding'
  | 'released'
  | 'released-unreachable'
  | 'deadline'
  | 'ssm-failed'
  /** Completed with ABANDON on a group that retains: the instance keeps running (lib/retain). */
  | 'retained'
  | 'ended'
  | 'error'
  | 'launch-ready'
  /** A launch let in unchecked: the gate could not ask whether it is ready (launch.ts). */
  | 'launch-unchecked'
  | 'launch-abandoned';

/** Events that end a lifecycle action (or its observation, in a dry run). */
export const OUTCOME_EVENTS: readonly NoticeEvent[] = [
  'released',
  'released-unreachable',
  'deadline',
  'ssm-failed',
  'retained',
  'ended',
  'launch-ready',
  'launch-unchecked',
  'launch-abandoned',
];

export interface NoticeFacts {
  event: NoticeEvent;
  groupName: string;
  instanceId: string;
  hookName: string;
  /** Plain words: the decision's reason, or the problem for `error`. */
  reason: string;
  waitedSeconds: number;
  /** Steps taken so far, this one included. */
  checks: number;
  /** The completion's result, when the action was (or, in a dry run, would be) completed. */
  result?: LifecycleResult;
  dryRun: boolean;
  /** ISO time of this step. */
  time: string;
  probe?: { status: ProbeStatus; reason?: string };
  commandId?: string;
  /** Dry run only: the hook timed out on its own (we never heartbeat in a dry run). */
  expired?: boolean;
  /** `ended`: why the action ended without themis. */
  cause?: GoneCause;
  /** `ended`: what this step had decided when it found the action ended. */
  decided?: string;
  /** Outcome notices: the action's stable outcome id (outcomeId). */
  outcomeId?: string;
  /**
   * Where the action takes the instance (warm-pool.ts): an instance returning to the warm
   * pool is "released to return to the warm pool", never "terminated". Absent = terminate.
   */
  passage?: Passage;
  /** `launch-abandoned`: launches of the group abandoned in a row, this one included. */
  abandonsInARow?: number;
  /** `launch-abandoned`: the sentence about the streak (a replacement loop is likely). */
  streak?: string;
}

/** Longest untrusted reason in a notice (a probe body, SSM stderr, a bad tag value). */
export const MAX_REASON_CHARS = 1000;

export { plainText };

/** The stable id of one lifecycle action's outcome: a hash of group, hook, instance, token. */
export function outcomeId(action: {
  groupName: string;
  hookName: string;
  instanceId: string;
  token: string;
}): string {
  return createHash('sha256')
    .update([action.groupName, action.hookName, action.instanceId, action.token].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/** SNS: "less than 100 characters" (and moto refuses more than 100): 99 satisfies both readings. */
export const MAX_SUBJECT_LENGTH = MAX_SUBJECT_CHARS;

export function buildNotice(raw: NoticeFacts): Notice {
  const facts = cleanFacts(raw);
  const subject = fitSubject(facts.dryRun ? '[dry run] ' : '', facts);
  return {
    subject,
    message: `${describe(facts)}\n\nFacts:\n${JSON.stringify(facts, null, 2)}\n`,
    attributes: {
      event: facts.event,
      group: facts.groupName,
      ...(facts.outcomeId ? { 'outcome-id': facts.outcomeId } : {}),
    },
  };
}

/** Every free-text fact through plainText (names and ids are checked on input already). */
function cleanFacts(f: NoticeFacts): NoticeFacts {
  return {
    ...f,
    groupName: plainText(f.groupName, 255),
    hookName: plainText(f.hookName, 255),
    reason: plainText(f.reason, MAX_REASON_CHARS),
    ...(f.decided !== undefined ? { decided: plainText(f.decided, MAX_REASON_CHARS) } : {}),
    ...(f.probe
      ? {
          probe: {
            status: f.probe.status,
            ...(f.probe.reason !== undefined
              ? { reason: plainText(f.probe.reason, MAX_REASON_CHARS) }
              : {}),
          },
        }
      : {}),
  };
}

/** The subject, with the group name shortened (never the instance id) until it fits. */
function fitSubject(prefix: string, facts: NoticeFacts): string {
  const build = (group: string) => ascii(`${prefix}themis: ${headline(facts, group)}`);
  let group = ascii(facts.groupName);
  let subject = build(group);
  while (subject.length > MAX_SUBJECT_LENGTH && group.length > 4) {
    group = `${group.slice(0, Math.max(1, group.length - (subject.length - MAX_SUBJECT_LENGTH) - 3))}...`;
    subject = build(group);
  }
  return subject.slice(0, MAX_SUBJECT_LENGTH);
}

function headline(f: NoticeFacts, group: string): string {
  const where = `${f.instanceId} in ${group}${PASSAGES[f.passage ?? 'terminate'].subjectNote}`;
  const after = formatSeconds(f.waitedSeconds);
  const would = f.dryRun ? 'would have ' : '';
  switch (f.event) {
    case 'holding':
      return `${f.dryRun ? 'would be holding' : 'holding'} ${where} (busy)`;
    case 'released':
      return `${would}released ${where} after ${after}`;
    case 'released-unreachable':
      return `${would}released ${where}: unreachable after ${after}`;
    case 'deadline':
      return f.expired
        ? `stopped watching ${where}: hook timed out`
        : `WARNING ${would}cut ${where} at deadline after ${after} (${f.result ?? '?'})`;
    case 'ssm-failed':
      return `pre-termination command failed on ${where} (${f.result ?? '?'})`;
    case 'retained':
      return `${f.dryRun ? 'would have retained' : 'RETAINED'} ${where} after ${after}, still running`;
    case 'ended':
      return `${where}: lifecycle action ${CAUSE_HEADLINE[f.cause ?? 'ended-elsewhere']}`;
    case 'error':
      return `error while handling ${where}`;
    case 'launch-ready':
      return `${would}let launch of ${where} go on, ready after ${after}`;
    case 'launch-unchecked':
      return `WARNING ${would}let launch of ${where} go on UNCHECKED after ${after}`;
    case 'launch-abandoned': {
      const row = (f.abandonsInARow ?? 0) >= 2 ? ` (${f.abandonsInARow} in a row)` : '';
      return `WARNING ${would}abandoned launch of ${where}${row} after ${after}`;
    }
  }
}

const CAUSE_HEADLINE: Record<GoneCause, string> = {
  'hook-deleted': 'ended, hook deleted',
  'timed-out': 'TIMED OUT during an outage',
  'ended-elsewhere': 'already completed',
};

const CAUSE_TEXT: Record<GoneCause, string> = {
  'hook-deleted':
    'its lifecycle hook no longer exists. Deleting a hook ends its outstanding actions, and Auto Scaling went on with the termination.',
  'timed-out':
    "no heartbeat reached Auto Scaling within the hook's HeartbeatTimeout (or its global timeout passed), most likely while themis could not act (an outage), so Auto Scaling applied the hook's DefaultResult. If the instance was busy, its work may have been cut.",
  'ended-elsewhere':
    'the lifecycle action had already been completed: by an earlier attempt of this step that could not send its notice, by a duplicate delivery of the same event, or by someone else (an operator, another tool).',
};

/** CAUSE_TEXT, in the words of a launch when the action was one (no work of its could be cut). */
function causeText(f: NoticeFacts): string {
  const text = CAUSE_TEXT[f.cause ?? 'ended-elsewhere'];
  if (PASSAGES[f.passage ?? 'terminate'].gate !== 'launch') return text;
  return text
    .replace('went on with the termination', 'went on with the launch')
    .replace(' If the instance was busy, its work may have been cut.', '');
}

function describe(f: NoticeFacts): string {
  const instance = `Instance ${f.instanceId} of Auto Scaling group ${f.groupName} (lifecycle hook ${f.hookName})`;
  const waited = `after ${formatSeconds(f.waitedSeconds)} and ${f.checks} check${f.checks === 1 ? '' : 's'}`;
  const probe = f.probe
    ? `Last answer: ${f.probe.status}${f.probe.reason ? ` (${f.probe.reason})` : ''}.`
    : '';
  const dry = f.dryRun ? 'DRY RUN: themis changed nothing; this is what it would have done.\n' : '';
  const releasedFor = PASSAGES[f.passage ?? 'terminate'].releasedFor;
  const lines: string[] = [];
  switch (f.event) {
    case 'holding':
      lines.push(
        f.passage === 'return-to-pool'
          ? `${instance} is returning to the warm pool (it would be stopped or hibernated there), but it is busy. themis is holding it in ${PASSAGES[f.passage].waitState} and will check again until it is idle.`
          : `${instance} is terminating, but it is busy. themis is holding it in ${PASSAGES[f.passage ?? 'terminate'].waitState} and will check again until it is idle.`,
      );
      break;
    case 'released':
      lines.push(`${instance} was released for ${releasedFor} ${waited}.`, `Reason: ${f.reason}.`);
      break;
    case 'released-unreachable':
      lines.push(
        `${instance} was released for ${releasedFor} ${waited} because it stopped answering.`,
        `Reason: ${f.reason}.`,
      );
      break;
    case 'deadline':
      if (f.expired) {
        lines.push(`${instance}: ${f.reason}.`);
      } else {
        lines.push(
          `WARNING: ${instance} reached the longest allowed hold ${waited}; themis completed its lifecycle action with ${f.result ?? '?'}.`,
          'If it was still busy, its work was cut.',
          `Reason: ${f.reason}.`,
        );
      }
      break;
    case 'ssm-failed':
      lines.push(
        `The pre-termination command on ${instance} did not succeed; themis completed its lifecycle action with ${f.result ?? '?'} (THEMIS_ON_SSM_FAILURE).`,
        `Reason: ${f.reason}.`,
      );
      break;
    case 'retained':
      lines.push(
        `${instance} was not idle ${waited}; themis completed its lifecycle action with ${f.result ?? '?'}, and the group's instance lifecycle policy retains the instance: it keeps running in ${retainedStateOf(f.passage ?? 'terminate')}, outside the desired capacity (Auto Scaling launches a replacement).`,
        releasedByThemis(f.passage ?? 'terminate')
          ? 'themis probes it on every protect scan and terminates it (TerminateInstanceInAutoScalingGroup) once it answers idle; a "released retained" notice follows. It is never terminated on an unknown answer.'
          : 'themis does not watch warm-pool retained instances and will not terminate it: an operator must end it once its work is done.',
        `Reason: ${f.reason}.`,
      );
      break;
    case 'ended':
      lines.push(
        `${instance}: themis was still carrying this lifecycle action when it found that ${causeText(f)}`,
        ...(f.decided ? [`themis had decided: ${f.decided}.`] : []),
        `Reason: ${f.reason}.`,
      );
      break;
    case 'error':
      lines.push(`themis hit a problem while handling ${instance}.`, `Problem: ${f.reason}.`);
      break;
    case 'launch-ready':
      lines.push(
        `${instance} was launching; its worker answered, so themis completed the launch with CONTINUE ${waited}: ${releasedFor}.`,
        `Reason: ${f.reason}.`,
      );
      break;
    case 'launch-unchecked':
      lines.push(
        `WARNING: ${instance} was launching, but themis could not ask whether its worker is ready, so it completed the launch with CONTINUE ${waited} without checking: ${releasedFor}.`,
        "Waiting longer would not help, and abandoning would replace every launch of the group. Fix what the reason names (the gate role's permissions, the themis:cluster tag) so that launches are checked again.",
        `Reason: ${f.reason}.`,
      );
      break;
    case 'launch-abandoned':
      lines.push(
        `WARNING: ${instance} was launching, but its worker never answered; themis completed the launch with ABANDON ${waited}, so Auto Scaling terminates it and launches another.`,
        `Reason: ${f.reason}.`,
        ...(f.streak ? [f.streak] : []),
      );
      break;
  }
  if (probe) lines.push(probe);
  return dry + lines.join('\n');
}

/** SNS subjects: printable ASCII, one line. */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
