/**
 * The final notice of a retained instance: protect found it idle and asked Auto Scaling to
 * terminate it. (The notice that it was retained is the gate's `retained` outcome notice,
 * lib/gate/notices.ts.) Pure; text from outside themis goes through plainText.
 */
import { createHash } from 'node:crypto';
import { MAX_SUBJECT_CHARS } from '../aws/facts.js';
import type { Notice } from '../ports.js';
import { plainText } from '../text.js';

export const RETAINED_RELEASED_EVENT = 'retained-released';

export interface RetainedReleaseFacts {
  groupName: string;
  instanceId: string;
  lifecycleState: string;
  /** Plain words: why it was terminated now. */
  reason: string;
  /** ISO time of the scan. */
  time: string;
  dryRun: boolean;
  /**
   * released (the default): Auto Scaling took the termination. unknown: the call failed or
   * went unanswered and the instance's state could not be read afterwards, so themis cannot
   * tell whether it was terminated (lib/protect/retained.ts).
   */
  outcome?: 'released' | 'unknown';
}

/**
 * The same for every notice about one retained instance's release (a scan retried after the
 * call, a second scan before Auto Scaling moved the instance on), so duplicates are recognisable.
 */
export function retainedOutcomeId(
  groupName: string,
  instanceId: string,
  outcome: 'released' | 'unknown' = 'released',
): string {
  // An unknown outcome is not a duplicate of the released notice a later scan may still send.
  const parts = [groupName, instanceId, RETAINED_RELEASED_EVENT];
  return createHash('sha256')
    .update((outcome === 'unknown' ? [...parts, outcome] : parts).join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

export function retainedReleasedNotice(raw: RetainedReleaseFacts): Notice {
  const facts = {
    ...raw,
    groupName: plainText(raw.groupName, 255),
    reason: plainText(raw.reason, 1000),
  };
  const unknown = raw.outcome === 'unknown';
  const would = facts.dryRun ? '[dry run] ' : '';
  const verb = facts.dryRun ? 'would release' : unknown ? 'may have released' : 'released';
  const build = (group: string) =>
    `${would}themis: ${verb} retained ${facts.instanceId} in ${group} (${unknown ? 'outcome unknown' : 'idle'})`.replace(
      /[^\x20-\x7e]/g,
      '?',
    );
  let subject = build(facts.groupName);
  if (subject.length > MAX_SUBJECT_CHARS) {
    const over = subject.length - MAX_SUBJECT_CHARS;
    subject = build(
      `${facts.groupName.slice(0, Math.max(1, facts.groupName.length - over - 3))}...`,
    );
  }
  const body = [
    ...(facts.dryRun ? ['DRY RUN: themis changed nothing; this is what it would have done.'] : []),
    `Instance ${facts.instanceId} of Auto Scaling group ${facts.groupName} was kept running in ${facts.lifecycleState} after its terminate lifecycle action was abandoned (the group's instance lifecycle policy retains such instances).`,
    `It now answers idle, so themis ${facts.dryRun ? 'would call' : 'called'} TerminateInstanceInAutoScalingGroup for it (ShouldDecrementDesiredCapacity=false: a retained instance is outside the desired capacity already).`,
    ...(unknown
      ? [
          "The outcome is UNKNOWN: the call failed or was not answered in time, and the instance's state could not be read afterwards. If it is still in Terminating:Retained, a later scan asks it again and terminates it once idle (and says so); otherwise it was terminated. Check with: themis holds, or the group's activity history.",
        ]
      : []),
    `Reason: ${facts.reason}.`,
  ].join('\n');
  return {
    subject: subject.slice(0, MAX_SUBJECT_CHARS),
    message: `${body}\n\nFacts:\n${JSON.stringify({ event: RETAINED_RELEASED_EVENT, ...facts }, null, 2)}\n`,
    attributes: {
      event: RETAINED_RELEASED_EVENT,
      group: facts.groupName,
      'outcome-id': retainedOutcomeId(raw.groupName, raw.instanceId, raw.outcome),
    },
  };
}
