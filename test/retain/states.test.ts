/**
 * The retained states themis knows are every one AWS documents: the user guide's "Manage
 * retained instances" lists three paths (a termination out of the group, a return to the warm
 * pool, a termination from it), and the SDK's LifecycleState enum holds exactly those three
 * `…:Retained` values. protect's retained step, `themis holds` and the gate's notices all read
 * them from RETAINED_STATES (lib/aws/facts.ts).
 *
 * Broken variants caught: RETAINED_STATES without Warmed:Terminating:Retained (the enum test
 * and the holds row fail); holdKind back on endsWith(':Retained') (an undocumented
 * 'Pending:Retained' would be listed as retained).
 */
import { LifecycleState } from '@aws-sdk/client-auto-scaling';
import { expect } from 'chai';
import { isRetainedState, RETAINED_STATES } from '../../lib/aws/facts.js';
import { holdKind, keptUntil } from '../../lib/cli/holds.js';
import { retainedMembers } from '../../lib/protect/retained.js';
import { decideRetained, retainedKind } from '../../lib/retain/decide.js';

describe('retained states (facts)', () => {
  it("holds exactly the SDK enum's retained lifecycle states", () => {
    const documented = Object.values(LifecycleState)
      .filter((s) => /Retained/.test(s))
      .sort();
    expect([...RETAINED_STATES].sort()).to.deep.equal(documented);
    expect(documented).to.have.length(3);
  });

  it('makes every documented retained state a retained member of protect and a retained row of holds', () => {
    for (const state of RETAINED_STATES) {
      expect(isRetainedState(state), state).to.equal(true);
      expect(holdKind(state), state).to.equal('retained');
      expect(retainedKind(state), state).to.be.oneOf(['group', 'warm-pool']);
      expect(
        retainedMembers([
          { instanceId: 'i-1', lifecycleState: state, protectedFromScaleIn: false },
        ]),
        state,
      ).to.have.length(1);
      expect(keptUntil(state).keptUntil, state).to.match(/^kept until /);
    }
  });

  it('terminates on IDLE only from Terminating:Retained; the warm-pool ones are kept for an operator', () => {
    const idle = { status: 'idle' as const };
    expect(
      RETAINED_STATES.map((s) => [s, decideRetained({ lifecycleState: s }, idle).kind]),
    ).to.deep.equal([
      ['Terminating:Retained', 'terminate'],
      ['Warmed:Pending:Retained', 'keep'],
      ['Warmed:Terminating:Retained', 'keep'],
    ]);
    expect(RETAINED_STATES.map((s) => keptUntil(s).endedBy)).to.deep.equal([
      'themis-once-idle',
      'operator',
      'operator',
    ]);
  });

  it('treats no undocumented state as retained (a launch is never retained)', () => {
    for (const state of ['Pending:Retained', 'Retained', 'Terminating:Proceed', 'InService']) {
      expect(isRetainedState(state), state).to.equal(false);
      expect(holdKind(state), state).to.equal(undefined);
      expect(retainedKind(state), state).to.equal(undefined);
    }
  });
});
