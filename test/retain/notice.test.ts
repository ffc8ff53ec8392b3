/**
 * The notice protect publishes when it terminates a retained instance that answers idle: what
 * an operator reads in the subject and the body, in a dry run too, and the outcome id that
 * makes a duplicate recognisable. (Mutation testing, issue 15: before these, 37% of the
 * module's mutants were caught — test/retain/protect.test.ts reads one live subject only.)
 */
import { expect } from 'chai';
import { MAX_SUBJECT_CHARS } from '../../lib/aws/facts.js';
import {
  RETAINED_RELEASED_EVENT,
  retainedOutcomeId,
  retainedReleasedNotice,
  type RetainedReleaseFacts,
} from '../../lib/retain/notice.js';

const facts: RetainedReleaseFacts = {
  groupName: 'workers',
  instanceId: 'i-0abc',
  lifecycleState: 'Terminating:Retained',
  reason: 'answered IDLE',
  time: '2026-11-26T18:00:00.000Z',
  dryRun: false,
};

function split(message: string): { prose: string[]; json: unknown } {
  const [prose, json] = message.split('\n\nFacts:\n');
  return { prose: prose!.split('\n'), json: JSON.parse(json!) };
}

describe('retain/notice: a retained instance released', () => {
  it('says who was released, why it had been kept, what themis called and why now', () => {
    const notice = retainedReleasedNotice(facts);
    expect(notice.subject).to.equal('themis: released retained i-0abc in workers (idle)');
    const { prose, json } = split(notice.message);
    expect(prose).to.deep.equal([
      "Instance i-0abc of Auto Scaling group workers was kept running in Terminating:Retained after its terminate lifecycle action was abandoned (the group's instance lifecycle policy retains such instances).",
      'It now answers idle, so themis called TerminateInstanceInAutoScalingGroup for it (ShouldDecrementDesiredCapacity=false: a retained instance is outside the desired capacity already).',
      'Reason: answered IDLE.',
    ]);
    expect(json).to.deep.equal({ event: RETAINED_RELEASED_EVENT, ...facts });
  });

  it('in a dry run says so in the subject and the body, and what it would have called', () => {
    const notice = retainedReleasedNotice({ ...facts, dryRun: true });
    expect(notice.subject).to.equal(
      '[dry run] themis: would release retained i-0abc in workers (idle)',
    );
    const { prose } = split(notice.message);
    expect(prose[0]).to.equal('DRY RUN: themis changed nothing; this is what it would have done.');
    expect(prose[2]).to.match(/^It now answers idle, so themis would call TerminateInstance/);
  });

  it('is tagged with its event, group and outcome id for subscription filters', () => {
    expect(retainedReleasedNotice(facts).attributes).to.deep.equal({
      event: 'retained-released',
      group: 'workers',
      'outcome-id': retainedOutcomeId('workers', 'i-0abc'),
    });
  });

  it('shortens a long group name, never the instance id, to fit an SNS subject', () => {
    const groupName = `g${'x'.repeat(200)}`;
    const { subject } = retainedReleasedNotice({ ...facts, groupName });
    expect(subject).to.have.length(MAX_SUBJECT_CHARS);
    expect(subject).to.match(/^themis: released retained i-0abc in gx+\.\.\. \(idle\)$/);
  });

  it('never exceeds the SNS subject limit, even when the rest alone would not fit', () => {
    const { subject } = retainedReleasedNotice({ ...facts, instanceId: `i-${'0'.repeat(120)}` });
    expect(subject).to.have.length(MAX_SUBJECT_CHARS);
  });

  it('leaves a subject of exactly the limit whole', () => {
    const fixed = 'themis: released retained i-0abc in  (idle)'.length;
    const groupName = 'w'.repeat(MAX_SUBJECT_CHARS - fixed);
    const { subject } = retainedReleasedNotice({ ...facts, groupName });
    expect(subject).to.equal(`themis: released retained i-0abc in ${groupName} (idle)`);
  });

  it('keeps the subject printable ASCII on one line', () => {
    const { subject } = retainedReleasedNotice({ ...facts, groupName: 'wörkers' });
    expect(subject).to.equal('themis: released retained i-0abc in w?rkers (idle)');
  });

  it('gives the same outcome id to every notice about one instance, and another to any other', () => {
    const id = retainedOutcomeId('workers', 'i-0abc');
    expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(retainedOutcomeId('workers', 'i-0abc')).to.equal(id);
    expect(retainedOutcomeId('workers', 'i-0abd')).to.not.equal(id);
    expect(retainedOutcomeId('other', 'i-0abc')).to.not.equal(id);
    // The parts are kept apart: group "ab" + instance "c" is not group "a" + instance "bc".
    expect(retainedOutcomeId('ab', 'c')).to.not.equal(retainedOutcomeId('a', 'bc'));
  });
});
