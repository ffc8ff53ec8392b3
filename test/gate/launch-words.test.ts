/**
 * The launch gate as an operator meets it: the group tags by their documented names, and the
 * reasons and streak sentences of its notices, word for word. (Mutation testing, issue 15:
 * these could be emptied, or the tag value read less leniently, without
 * test/gate/launch.test.ts noticing — it names the tags by the module's own constants.)
 */
import { expect } from 'chai';
import {
  decideLaunch,
  ecsReadiness,
  launchGateOn,
  readAbandonStreak,
  streakSentence,
  type LaunchDecideInput,
} from '../../lib/gate/launch.js';
import { initialState } from '../../lib/gate/state.js';

const T0 = Date.parse('2026-11-26T18:00:00Z');
const HOOK = { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000 };

function input(overrides: Partial<LaunchDecideInput> = {}): LaunchDecideInput {
  return {
    state: initialState(T0, HOOK),
    probe: { status: 'unknown', latencyMs: 1 },
    passage: 'launch',
    config: { recheckSeconds: 10, heartbeatMarginSeconds: 60, unknownLimit: 3 },
    dryRun: false,
    nowMs: T0 + 5_000,
    random: 0,
    phase: 0,
    ...overrides,
  };
}

describe('gate/launch: tags and words', () => {
  it('is turned on by the group tag themis:launch-gate=true, as the docs name it', () => {
    expect(launchGateOn({ 'themis:launch-gate': 'true' })).to.equal(true);
    expect(launchGateOn({ 'themis:launch-gate': 'false' })).to.equal(false);
    expect(launchGateOn({})).to.equal(false);
  });

  it('reads the abandons in a row from the group tag themis:launch-abandons', () => {
    expect(
      readAbandonStreak({ 'themis:launch-abandons': '2 2026-11-26T17:00:00.000Z' }),
    ).to.deep.equal({ count: 2, lastMs: Date.parse('2026-11-26T17:00:00.000Z') });
  });

  it('reads a tag value an operator typed loosely: padded, spaced, a count of several digits', () => {
    expect(
      readAbandonStreak({ 'themis:launch-abandons': '  12   2026-11-26T17:00:00.000Z \n' }),
    ).to.deep.equal({ count: 12, lastMs: Date.parse('2026-11-26T17:00:00.000Z') });
  });

  it('says there was no usable answer when the probe gave no reason', () => {
    expect(decideLaunch(input()).reason).to.equal('not ready yet (no usable answer)');
  });

  it('says why a dry run lets the launch hook time out', () => {
    const d = decideLaunch(input({ dryRun: true, nowMs: T0 + 301_000 }));
    expect(d).to.deep.equal({
      kind: 'expired',
      reason:
        'dry run: no heartbeats were sent, so the launch hook timed out after 5 min and Auto Scaling applied its DefaultResult',
    });
  });

  it('says an ACTIVE container instance is ready because it is ACTIVE in the cluster', () => {
    expect(ecsReadiness('ACTIVE')).to.deep.equal({
      status: 'idle',
      reason: 'ACTIVE in the cluster',
      latencyMs: 0,
    });
  });

  it('quotes at most 40 characters of a container instance status', () => {
    expect(ecsReadiness(`DRAINING${'X'.repeat(100)}`).reason).to.equal(
      `container instance is DRAINING${'X'.repeat(32)}`,
    );
  });

  it('counts a second abandon in a row, without a time it does not know and without a loop warning', () => {
    expect(streakSentence({ count: 1 }, 2)).to.equal(
      'This is launch 2 in a row that themis abandoned in this group.',
    );
    expect(streakSentence({ count: 1, lastMs: T0 }, 2)).to.equal(
      'This is launch 2 in a row that themis abandoned in this group, the previous one at 2026-11-26T18:00:00.000Z.',
    );
  });
});
