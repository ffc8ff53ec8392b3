/**
 * The warm pool passages as an operator meets them: which passage a documented event is, and
 * the words of the notices about it — an instance terminated out of the pool or put in service
 * from it is named so, a plain termination carries no warm pool words. (Mutation testing,
 * issue 15: these texts could be emptied, and a termination from a warm pool group to EC2 read
 * as a return to the pool, without test/gate/warm-pool.test.ts noticing.)
 */
import { expect } from 'chai';
import { LAUNCHING, TERMINATING } from '../../lib/aws/facts.js';
import { buildNotice, type NoticeFacts } from '../../lib/gate/notices.js';
import { PASSAGES, passageOf, type Passage } from '../../lib/gate/warm-pool.js';

const base: NoticeFacts = {
  event: 'released',
  groupName: 'workers',
  instanceId: 'i-0abc',
  hookName: 'themis',
  reason: 'idle',
  waitedSeconds: 120,
  checks: 3,
  result: 'CONTINUE',
  dryRun: false,
  time: '2026-11-26T18:00:00.000Z',
};

function prose(facts: Partial<NoticeFacts>): { subject: string; text: string } {
  const notice = buildNotice({ ...base, ...facts });
  return { subject: notice.subject, text: notice.message.split('\n\nFacts:\n')[0]! };
}

describe('gate/warm-pool: passages in the words of a notice', () => {
  it('reads a termination from the group to EC2 as a termination, not a return to the pool', () => {
    // The user guide's row TERMINATING AutoScalingGroup → EC2 (a group with a warm pool that
    // terminates instead of reusing): the instance is terminated.
    expect(passageOf(TERMINATING, 'AutoScalingGroup', 'EC2')).to.equal('terminate');
  });

  it('reads a launch out of the pool to anywhere but the group as a plain launch', () => {
    expect(passageOf(LAUNCHING, 'WarmPool', 'EC2')).to.equal('launch');
    expect(passageOf(LAUNCHING, 'WarmPool', 'WarmPool')).to.equal('launch');
  });

  it('holds every passage that is not a launch while busy (a stop in the pool cuts work too)', () => {
    const held = (Object.keys(PASSAGES) as Passage[]).filter(
      (p) => PASSAGES[p].gate === 'terminate',
    );
    expect(held.sort()).to.deep.equal(['return-to-pool', 'terminate', 'terminate-from-pool']);
  });

  it('names a plain termination without any warm pool words', () => {
    const { subject, text } = prose({ passage: 'terminate' });
    expect(subject).to.equal('themis: released i-0abc in workers after 2 min');
    expect(text).to.contain('was released for termination after 2 min and 3 checks.');
    expect(`${subject}\n${text}`).to.not.match(/warm pool/i);
  });

  it('names a termination out of the warm pool as one', () => {
    const { subject, text } = prose({ passage: 'terminate-from-pool' });
    expect(subject).to.equal('themis: released i-0abc in workers (from warm pool) after 2 min');
    expect(text).to.contain(
      'was released for termination from the warm pool after 2 min and 3 checks.',
    );
  });

  it('names an instance put in service from the warm pool as one', () => {
    const { subject, text } = prose({
      event: 'launch-ready',
      passage: 'leave-pool',
      reason: 'the worker answered',
    });
    expect(subject).to.contain('i-0abc in workers (from warm pool)');
    expect(text).to.contain(
      'completed the launch with CONTINUE after 2 min and 3 checks: put in service from the warm pool.',
    );
  });
});
