import { expect } from 'chai';
import {
  type GroupRetention,
  decideRetained,
  enableRetentionCommand,
  resolveCompletion,
  retainedKind,
  type FailurePolicy,
} from '../../lib/retain/decide.js';

const GROUP = 'workers';
const retaining: GroupRetention = { name: GROUP, retainsOnAbandon: true };
const plain: GroupRetention = { name: GROUP };

describe('retain/decide', () => {
  describe('resolveCompletion', () => {
    it('completes RETAIN with ABANDON, retained, when the group retains abandoned instances', () => {
      expect(resolveCompletion('RETAIN', retaining, GROUP)).to.deep.equal({
        result: 'ABANDON',
        retained: true,
      });
    });

    it('never abandons for RETAIN on a group that does not retain: CONTINUE, with how to enable retention', () => {
      const c = resolveCompletion('RETAIN', plain, GROUP);
      expect(c.result).to.equal('CONTINUE');
      expect(c.retained).to.equal(false);
      expect(c.retentionMissing).to.contain(`group ${GROUP} does not retain abandoned instances`);
      expect(c.retentionMissing).to.contain(enableRetentionCommand(GROUP));
    });

    it('retains only a termination out of the group: RETAIN of a warm-pool passage completes with CONTINUE', () => {
      expect(resolveCompletion('RETAIN', retaining, GROUP, 'terminate')).to.deep.equal({
        result: 'ABANDON',
        retained: true,
      });
      for (const [passage, state] of [
        ['return-to-pool', 'Warmed:Pending:Retained'],
        ['terminate-from-pool', 'Warmed:Terminating:Retained'],
      ] as const) {
        const c = resolveCompletion('RETAIN', retaining, GROUP, passage);
        expect(c).to.include({ result: 'CONTINUE', retained: false });
        expect(c.retentionMissing).to.contain(state).and.to.contain('does not watch');
      }
    });

    it('treats a group that could not be read as not retaining', () => {
      const c = resolveCompletion('RETAIN', undefined, GROUP);
      expect(c.result).to.equal('CONTINUE');
      expect(c.retentionMissing).to.contain('could not be read');
    });

    it('says that ABANDON retains on a group that retains (Auto Scaling decides, not themis)', () => {
      expect(resolveCompletion('ABANDON', retaining, GROUP)).to.deep.equal({
        result: 'ABANDON',
        retained: true,
      });
      expect(resolveCompletion('ABANDON', plain, GROUP)).to.deep.equal({
        result: 'ABANDON',
        retained: false,
      });
    });

    it('leaves CONTINUE alone whatever the group does (retention applies to ABANDON only)', () => {
      for (const group of [retaining, plain, undefined]) {
        expect(resolveCompletion('CONTINUE', group, GROUP)).to.deep.equal({
          result: 'CONTINUE',
          retained: false,
        });
      }
    });

    it('completes with ABANDON only when the instance is then retained, or when ABANDON was asked for', () => {
      const policies: FailurePolicy[] = ['CONTINUE', 'ABANDON', 'RETAIN'];
      for (const policy of policies) {
        for (const group of [retaining, plain, undefined]) {
          const c = resolveCompletion(policy, group, GROUP);
          if (c.result === 'ABANDON') expect(c.retained || policy === 'ABANDON').to.equal(true);
          expect(c.retained).to.equal(c.result === 'ABANDON' && group?.retainsOnAbandon === true);
        }
      }
    });
  });

  describe('enableRetentionCommand', () => {
    it('is the one update-auto-scaling-group command with the instance lifecycle policy', () => {
      expect(enableRetentionCommand('web-a')).to.equal(
        "aws autoscaling update-auto-scaling-group --auto-scaling-group-name web-a --instance-lifecycle-policy 'RetentionTriggers={TerminateHookAbandon=retain}'",
      );
    });

    it('quotes a group name that is not one shell word', () => {
      expect(enableRetentionCommand("it's a group")).to.contain(
        `--auto-scaling-group-name 'it'\\''s a group'`,
      );
    });
  });

  describe('retained instances', () => {
    it('tells the group retained state from the warm pool ones and from everything else', () => {
      expect(retainedKind('Terminating:Retained')).to.equal('group');
      expect(retainedKind('Warmed:Pending:Retained')).to.equal('warm-pool');
      expect(retainedKind('Warmed:Terminating:Retained')).to.equal('warm-pool');
      for (const state of ['InService', 'Terminating:Wait', 'Terminating:Proceed', 'Terminated']) {
        expect(retainedKind(state)).to.equal(undefined);
      }
    });

    it('terminates a retained instance that answers idle', () => {
      expect(
        decideRetained({ lifecycleState: 'Terminating:Retained' }, { status: 'idle' }),
      ).to.deep.equal({ kind: 'terminate', reason: 'idle' });
    });

    it('keeps a busy retained instance', () => {
      expect(
        decideRetained({ lifecycleState: 'Terminating:Retained' }, { status: 'busy' }).kind,
      ).to.equal('keep');
    });

    it('never terminates on an unknown answer, nor when the instance could not be asked', () => {
      const unknown = decideRetained(
        { lifecycleState: 'Terminating:Retained' },
        { status: 'unknown', reason: 'timeout after 2000 ms' },
      );
      expect(unknown.kind).to.equal('keep');
      expect(unknown.reason).to.contain('timeout after 2000 ms');
      expect(decideRetained({ lifecycleState: 'Terminating:Retained' }, undefined).kind).to.equal(
        'keep',
      );
    });

    it('keeps warm pool retained instances even when idle (the API cannot terminate them)', () => {
      const d = decideRetained({ lifecycleState: 'Warmed:Pending:Retained' }, { status: 'idle' });
      expect(d.kind).to.equal('keep');
      expect(d.reason).to.contain('warm pool');
    });

    it('never terminates an instance that is not retained, even when idle', () => {
      for (const state of ['InService', 'Terminating:Wait', 'Standby']) {
        expect(decideRetained({ lifecycleState: state }, { status: 'idle' }).kind).to.equal('keep');
      }
    });
  });
});
