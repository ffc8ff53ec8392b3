/**
 * What operators read: one SNS notice per outcome (and one when a hold starts). The subject
 * is short enough for SNS's subject limit (under 100 printable ASCII characters) and says
 * what happened to which instance; the body is a few plain sentences, then the JSON facts
 * for scripts. Message attributes `event` and `group` let subscriptions filter.
 */
import type { LifecycleResult, Notice, ProbeStatus } from '../ports.js';
import { formatSeconds } from './decide.js';

export type NoticeEvent =
  'holding' | 'released' | 'released-unreachable' | 'deadline' | 'ssm-failed' | 'error';

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
}

/** SNS: "less than 100 characters" (and moto refuses more than 100): 99 satisfies both readings. */
export const MAX_SUBJECT_LENGTH = 99;

export function buildNotice(facts: NoticeFacts): Notice {
  const subject = fitSubject(facts.dryRun ? '[dry run] ' : '', facts);
  return {
    subject,
    message: `${describe(facts)}\n\nFacts:\n${JSON.stringify(facts, null, 2)}\n`,
    attributes: { event: facts.event, group: facts.groupName },
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
  const where = `${f.instanceId} in ${group}`;
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
    case 'error':
      return `error while handling ${where}`;
  }
}

function describe(f: NoticeFacts): string {
  const instance = `Instance ${f.instanceId} of Auto Scaling group ${f.groupName} (lifecycle hook ${f.hookName})`;
  const waited = `after ${formatSeconds(f.waitedSeconds)} and ${f.checks} check${f.checks === 1 ? '' : 's'}`;
  const probe = f.probe
    ? `Last answer: ${f.probe.status}${f.probe.reason ? ` (${f.probe.reason})` : ''}.`
    : '';
  const dry = f.dryRun ? 'DRY RUN: themis changed nothing; this is what it would have done.\n' : '';
  const lines: string[] = [];
  switch (f.event) {
    case 'holding':
      lines.push(
        `${instance} is terminating, but it is busy. themis is holding it in Terminating:Wait and will check again until it is idle.`,
      );
      break;
    case 'released':
      lines.push(`${instance} was released for termination ${waited}.`, `Reason: ${f.reason}.`);
      break;
    case 'released-unreachable':
      lines.push(
        `${instance} was released for termination ${waited} because it stopped answering.`,
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
    case 'error':
      lines.push(`themis hit a problem while handling ${instance}.`, `Problem: ${f.reason}.`);
      break;
  }
  if (probe) lines.push(probe);
  return dry + lines.join('\n');
}

/** SNS subjects: printable ASCII, one line. */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
