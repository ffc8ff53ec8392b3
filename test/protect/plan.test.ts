import { expect } from 'chai';
import type { ProbeStatus } from '../../lib/ports.js';
import { decide, planProtection, type Action } from '../../lib/protect/plan.js';

describe('protect/plan', () => {
  // status, protected now, protectUnknown, expected action
  const table: Array<[ProbeStatus, boolean, boolean, Action]> = [
    ['busy', false, false, 'protect'],
    ['busy', true, false, 'none'],
    ['idle', true, false, 'unprotect'],
    ['idle', false, false, 'none'],
    ['unknown', false, false, 'none'],
    ['unknown', true, false, 'none'],
    ['busy', false, true, 'protect'],
    ['idle', true, true, 'unprotect'],
    ['unknown', false, true, 'protect'],
    ['unknown', true, true, 'none'],
  ];
  for (const [status, protectedBefore, protectUnknown, action] of table) {
    it(`${status} and ${protectedBefore ? 'protected' : 'unprotected'}${
      protectUnknown ? ' with protectUnknown' : ''
    } → ${action}`, () => {
      const d = decide({ instanceId: 'i-1', status, protectedBefore }, { protectUnknown });
      expect(d.action).to.equal(action);
      expect(d.reason).to.be.a('string').with.length.above(5);
    });
  }

  it('never removes protection from an instance whose answer is unknown', () => {
    for (const protectUnknown of [false, true]) {
      const plan = planProtection(
        [{ instanceId: 'i-u', status: 'unknown', protectedBefore: true }],
        {
          protectUnknown,
        },
      );
      expect(plan.unprotect).to.deep.equal([]);
    }
  });

  it('lists protect and unprotect ids in input order and one decision per instance', () => {
    const plan = planProtection(
      [
        { instanceId: 'i-a', status: 'busy', protectedBefore: false },
        { instanceId: 'i-b', status: 'idle', protectedBefore: true },
        { instanceId: 'i-c', status: 'unknown', protectedBefore: false },
        { instanceId: 'i-d', status: 'busy', protectedBefore: false },
        { instanceId: 'i-e', status: 'idle', protectedBefore: true },
        { instanceId: 'i-f', status: 'busy', protectedBefore: true },
      ],
      { protectUnknown: false },
    );
    expect(plan.protect).to.deep.equal(['i-a', 'i-d']);
    expect(plan.unprotect).to.deep.equal(['i-b', 'i-e']);
    expect(plan.decisions.map((d) => d.instanceId)).to.deep.equal([
      'i-a',
      'i-b',
      'i-c',
      'i-d',
      'i-e',
      'i-f',
    ]);
  });

  it('plans nothing for an empty group', () => {
    expect(planProtection([], { protectUnknown: true })).to.deep.equal({
      decisions: [],
      protect: [],
      unprotect: [],
    });
  });
});
