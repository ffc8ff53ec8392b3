/**
 * What an operator reads about a retained instance themis keeps: each reason says why.
 * (Mutation testing, issue 15: each of these texts could be emptied, or the busy case fall
 * through to the unknown one, without test/retain/decide.test.ts noticing.)
 */
import { expect } from 'chai';
import { decideRetained } from '../../lib/retain/decide.js';

const RETAINED = { lifecycleState: 'Terminating:Retained' };

describe('retain/decide: the reasons an operator reads', () => {
  it('says a busy retained instance is kept because it is busy', () => {
    expect(decideRetained(RETAINED, { status: 'busy' })).to.deep.equal({
      kind: 'keep',
      reason: 'busy',
    });
  });

  it('says an instance that could not be asked was not asked, and is kept', () => {
    expect(decideRetained(RETAINED, undefined)).to.deep.equal({
      kind: 'keep',
      reason: 'not asked (no private address); kept',
    });
  });

  it('says an unknown answer never terminates, naming no cause when the probe gave none', () => {
    expect(decideRetained(RETAINED, { status: 'unknown' })).to.deep.equal({
      kind: 'keep',
      reason: 'unknown answer: a retained instance is never terminated on an unknown answer',
    });
  });

  it('names the lifecycle state of an instance that is not retained', () => {
    expect(decideRetained({ lifecycleState: 'Standby' }, { status: 'idle' })).to.deep.equal({
      kind: 'keep',
      reason: 'not retained (Standby)',
    });
  });
});
