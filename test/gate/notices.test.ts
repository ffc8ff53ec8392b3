import { expect } from 'chai';
import {
  buildNotice,
  MAX_REASON_CHARS,
  MAX_SUBJECT_LENGTH,
  plainText,
  type NoticeFacts,
} from '../../lib/gate/notices.js';

const facts: NoticeFacts = {
  event: 'released',
  groupName: 'Electric-Ziggurat',
  instanceId: 'i-0abc',
  hookName: 'themis',
  reason: 'idle',
  waitedSeconds: 42 * 60,
  checks: 85,
  result: 'CONTINUE',
  dryRun: false,
  time: '2024-05-01T12:42:00.000Z',
  probe: { status: 'idle' },
};

describe('gate notices', () => {
  it('says who was released, where, and after how long', () => {
    const notice = buildNotice(facts);
    expect(notice.subject).to.equal('themis: released i-0abc in Electric-Ziggurat after 42 min');
    expect(notice.attributes).to.deep.equal({ event: 'released', group: 'Electric-Ziggurat' });
  });

  it('has a readable body followed by the JSON facts, without any token', () => {
    const notice = buildNotice(facts);
    const [prose, json] = notice.message.split('\n\nFacts:\n');
    expect(prose).to.contain('i-0abc').and.contain('Electric-Ziggurat').and.contain('42 min');
    expect(JSON.parse(json!)).to.deep.equal(facts);
    expect(notice.message.toLowerCase()).to.not.contain('token');
  });

  const subjects: [Partial<NoticeFacts>, RegExp][] = [
    [{ event: 'holding' }, /^themis: holding i-0abc in Electric-Ziggurat \(busy\)$/],
    [{ event: 'released-unreachable' }, /^themis: released i-0abc .*unreachable after 42 min$/],
    [
      { event: 'deadline', result: 'ABANDON' },
      /^themis: WARNING cut i-0abc .* at deadline after 42 min \(ABANDON\)$/,
    ],
    [{ event: 'ssm-failed' }, /^themis: pre-termination command failed on i-0abc .*\(CONTINUE\)$/],
    [{ event: 'error', reason: 'metricsPort: too big' }, /^themis: error while handling i-0abc/],
    [{ dryRun: true }, /^\[dry run\] themis: would have released i-0abc/],
    [
      { event: 'deadline', dryRun: true, expired: true },
      /^\[dry run\] themis: stopped watching i-0abc .*hook timed out$/,
    ],
  ];
  for (const [changes, subject] of subjects) {
    it(`titles a ${changes.dryRun ? 'dry-run ' : ''}${changes.event ?? 'released'} notice plainly`, () => {
      const notice = buildNotice({ ...facts, ...changes });
      expect(notice.subject).to.match(subject);
      expect(notice.attributes.event).to.equal(changes.event ?? 'released');
    });
  }

  it('warns in the body that busy work may have been cut at the deadline', () => {
    const notice = buildNotice({ ...facts, event: 'deadline', probe: { status: 'busy' } });
    expect(notice.message).to.contain('WARNING').and.contain('work was cut');
    expect(notice.message).to.contain('Last answer: busy');
  });

  it('keeps the subject under the SNS limit by shortening a long group name, never the instance id', () => {
    const notice = buildNotice({ ...facts, groupName: 'g'.repeat(255) });
    expect(notice.subject.length).to.be.at.most(MAX_SUBJECT_LENGTH);
    expect(notice.subject).to.contain('i-0abc').and.contain('after 42 min').and.contain('...');
    expect(notice.attributes.group).to.equal('g'.repeat(255));
  });

  it('keeps the subject printable ASCII', () => {
    const notice = buildNotice({ ...facts, groupName: 'Zikkurat-ü\n' });
    expect(notice.subject).to.match(/^[\x20-\x7e]+$/);
  });

  describe('untrusted text', () => {
    // SSM stderr, a probe body, a tag value: each may carry terminal escapes, line breaks
    // that forge headers or lines in an e-mail, and megabytes.
    const hostile = `ok\u001b[2J\r\nSubject: forged\u0000\u0085\u2028${'x'.repeat(5000)}`;
    const notice = buildNotice({
      ...facts,
      event: 'ssm-failed',
      reason: `command failed: ${hostile}`,
      probe: { status: 'unknown', reason: hostile },
    });
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

    it('reaches the body stripped of control characters, line by line', () => {
      const [prose, json] = notice.message.split('\n\nFacts:\n');
      expect(prose).to.not.match(CONTROL);
      expect(prose!.split('\n').some((line) => line.startsWith('Subject:'))).to.equal(false);
      const parsed = JSON.parse(json!) as { reason: string; probe: { reason: string } };
      expect(parsed.reason).to.not.match(CONTROL);
      expect(parsed.probe.reason).to.not.match(CONTROL);
    });

    it('is bounded in length, in the body as in the subject', () => {
      const parsed = JSON.parse(notice.message.split('\n\nFacts:\n')[1]!) as {
        reason: string;
        probe: { reason: string };
      };
      expect(Array.from(parsed.reason).length).to.be.at.most(MAX_REASON_CHARS);
      expect(Array.from(parsed.probe.reason).length).to.be.at.most(MAX_REASON_CHARS);
      expect(notice.message.length).to.be.below(6 * MAX_REASON_CHARS);
      expect(notice.subject.length).to.be.at.most(MAX_SUBJECT_LENGTH);
    });

    it('keeps ordinary text as it was', () => {
      expect(plainText('Failed (exit 2); stderr: no space left', 100)).to.equal(
        'Failed (exit 2); stderr: no space left',
      );
      expect(plainText('a\tb\nc', 100)).to.equal('a b c');
      expect(plainText('😀'.repeat(10), 5)).to.equal('😀😀😀😀…');
    });
  });
});
