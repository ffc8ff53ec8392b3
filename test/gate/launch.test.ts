import { expect } from 'chai';
import { DEADLINE_MARGIN_SECONDS } from '../../lib/gate/decide.js';
import {
  decideLaunch,
  ecsReadiness,
  LAUNCH_ABANDONS_TAG,
  LAUNCH_DEFAULTS,
  LAUNCH_GATE_TAG,
  LAUNCH_LOOP_THRESHOLD,
  launchDeadlineMs,
  launchGateOn,
  launchOwnership,
  nextAbandonStreak,
  readAbandonStreak,
  streakSentence,
  type LaunchConfig,
  type LaunchDecideInput,
} from '../../lib/gate/launch.js';
import { initialState, type StepState } from '../../lib/gate/state.js';
import type { ProbeResult } from '../../lib/ports.js';

const T0 = Date.parse('2024-05-01T12:00:00Z');
const HOOK = { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000 };
const CONFIG: LaunchConfig = { recheckSeconds: 10, heartbeatMarginSeconds: 60, unknownLimit: 3 };
const UNKNOWN: ProbeResult = { status: 'unknown', reason: 'connection refused', latencyMs: 1 };

function input(overrides: Partial<LaunchDecideInput> = {}): LaunchDecideInput {
  return {
    state: initialState(T0, HOOK),
    probe: UNKNOWN,
    passage: 'launch',
    config: CONFIG,
    dryRun: false,
    nowMs: T0 + 5_000,
    random: 0,
    phase: 0,
    ...overrides,
  };
}

describe('gate/launch', () => {
  describe('decideLaunch', () => {
    it('lets a launch go on (CONTINUE) as soon as the worker answers BUSY', () => {
      const d = decideLaunch(input({ probe: { status: 'busy', latencyMs: 1 } }));
      expect(d).to.include({ kind: 'release', result: 'CONTINUE' });
      expect(d.reason)
        .to.match(/answered BUSY/)
        .and.match(/put in service/);
    });

    it('lets a launch go on (CONTINUE) as soon as the worker answers IDLE', () => {
      const d = decideLaunch(input({ probe: { status: 'idle', latencyMs: 1 } }));
      expect(d).to.include({ kind: 'release', result: 'CONTINUE' });
    });

    it('keeps waiting on an unknown answer: no answer means not yet, however many in a row', () => {
      const state: StepState = { ...initialState(T0, HOOK), attempt: 50, unknowns: 49 };
      const d = decideLaunch(input({ state }));
      expect(d.kind).to.equal('hold');
      if (d.kind !== 'hold') return;
      expect(d.reason).to.equal('not ready yet (connection refused)');
      // In a launch chain `unknowns` counts only steps that could not ask at all.
      expect(d.next).to.include({ attempt: 51, unknowns: 0 });
      expect(d.notifyHolding).to.equal(false);
      expect(d.delaySeconds).to.equal(9);
    });

    describe('when the gate cannot ask (a refusal that comes back on every step)', () => {
      const REFUSED: ProbeResult = {
        status: 'unknown',
        reason: 'ECS: AccessDeniedException: not authorized to perform ecs:ListContainerInstances',
        latencyMs: 0,
        setupFailure: true,
      };

      it('waits out unknownLimit − 1 such steps in a row (a permission still propagating)', () => {
        const state: StepState = { ...initialState(T0, HOOK), attempt: 2, unknowns: 1 };
        const d = decideLaunch(input({ state, probe: REFUSED }));
        expect(d.kind).to.equal('hold');
        if (d.kind !== 'hold') return;
        expect(d.next).to.include({ unknowns: 2 });
        expect(d.reason).to.match(/could not be checked .*AccessDenied.*2 of 3 steps in a row/);
      });

      it('lets the launch in unchecked (CONTINUE) at the unknownLimit-th, long before the deadline', () => {
        const state: StepState = { ...initialState(T0, HOOK), attempt: 3, unknowns: 2 };
        const d = decideLaunch(input({ state, probe: REFUSED, nowMs: T0 + 25_000 }));
        expect(d).to.include({ kind: 'release-unreachable', result: 'CONTINUE' });
        expect(d.reason)
          .to.match(/could not be checked on 3 steps in a row \(last: ECS: AccessDenied/)
          .and.match(/unchecked rather than abandon every launch/);
      });

      it('starts counting again after a step that could ask', () => {
        const state: StepState = { ...initialState(T0, HOOK), attempt: 4, unknowns: 2 };
        const d = decideLaunch(input({ state }));
        expect(d.kind).to.equal('hold');
        if (d.kind === 'hold') expect(d.next.unknowns).to.equal(0);
        const again = decideLaunch(input({ state: { ...state, unknowns: 0 }, probe: REFUSED }));
        expect(again.kind).to.equal('hold');
      });

      it('never counts an answer that only says "not yet" (worker refusing, not registered)', () => {
        const state: StepState = { ...initialState(T0, HOOK), attempt: 9, unknowns: 2 };
        expect(decideLaunch(input({ state })).kind).to.equal('hold');
      });
    });

    it('abandons the launch at the deadline when the worker never answered', () => {
      const at = launchDeadlineMs(initialState(T0, HOOK), CONFIG);
      const d = decideLaunch(input({ nowMs: at }));
      expect(d).to.include({ kind: 'deadline', result: 'ABANDON' });
      expect(d.reason).to.match(/not ready after 30 min \(last: connection refused\)/);
    });

    it('still lets a launch go on when the worker answers at the deadline', () => {
      const at = launchDeadlineMs(initialState(T0, HOOK), CONFIG);
      const d = decideLaunch(input({ nowMs: at + 1, probe: { status: 'idle', latencyMs: 1 } }));
      expect(d).to.include({ kind: 'release', result: 'CONTINUE' });
    });

    it('waits one millisecond before the deadline', () => {
      const at = launchDeadlineMs(initialState(T0, HOOK), CONFIG);
      expect(decideLaunch(input({ nowMs: at - 1 })).kind).to.equal('hold');
    });

    it('never schedules the next check past the deadline', () => {
      const at = launchDeadlineMs(initialState(T0, HOOK), CONFIG);
      const d = decideLaunch(input({ nowMs: at - 3_000 }));
      expect(d).to.include({ kind: 'hold', delaySeconds: 3 });
    });

    it('heartbeats only when the hook timeout comes near, never in a dry run', () => {
      expect(decideLaunch(input())).to.include({ heartbeat: false });
      const late = T0 + (HOOK.heartbeatTimeoutSeconds - 60) * 1000;
      expect(decideLaunch(input({ nowMs: late }))).to.include({ heartbeat: true });
      expect(decideLaunch(input({ nowMs: late, dryRun: true }))).to.include({ heartbeat: false });
    });

    it('stops observing in a dry run once the hook has timed out on its own', () => {
      const after = T0 + HOOK.heartbeatTimeoutSeconds * 1000;
      expect(decideLaunch(input({ nowMs: after, dryRun: true })).kind).to.equal('expired');
      expect(decideLaunch(input({ nowMs: after - 1, dryRun: true })).kind).to.equal('hold');
    });

    it('names a launch into the warm pool in its reason', () => {
      const d = decideLaunch(
        input({ passage: 'launch-into-pool', probe: { status: 'idle', latencyMs: 1 } }),
      );
      expect(d.reason).to.match(/let into the warm pool/);
    });
  });

  describe('launchDeadlineMs', () => {
    it('is THEMIS_LAUNCH_MAX_WAIT_SECONDS after first sight (30 min by default)', () => {
      const state = initialState(T0, HOOK);
      expect(launchDeadlineMs(state, CONFIG)).to.equal(T0 + LAUNCH_DEFAULTS.maxWaitSeconds * 1000);
      expect(launchDeadlineMs(state, { ...CONFIG, launchMaxWaitSeconds: 600 })).to.equal(
        T0 + 600_000,
      );
    });

    it("comes before the hook's global timeout, less the margin", () => {
      const short = initialState(T0, { heartbeatTimeoutSeconds: 30, globalTimeoutSeconds: 3000 });
      const long = { ...CONFIG, launchMaxWaitSeconds: 7200 };
      expect(launchDeadlineMs(short, long)).to.equal(T0 + (3000 - DEADLINE_MARGIN_SECONDS) * 1000);
      const margin = { ...long, heartbeatMarginSeconds: 1000 };
      expect(launchDeadlineMs(short, margin)).to.equal(T0 + 2000 * 1000);
    });

    it('is first sight itself when the hook leaves no time at all', () => {
      const tiny = initialState(T0, { heartbeatTimeoutSeconds: 30, globalTimeoutSeconds: 100 });
      expect(launchDeadlineMs(tiny, CONFIG)).to.equal(T0);
    });
  });

  describe('launchOwnership', () => {
    const tagged = { [LAUNCH_GATE_TAG]: 'true' };

    it("gates themis's hook on a tagged group", () => {
      expect(
        launchOwnership('themis-launch', tagged, { launchHookName: 'themis-launch' }),
      ).to.equal('gate');
    });

    it("continues themis's hook at once on a group without the tag", () => {
      expect(launchOwnership('themis-launch', {}, { launchHookName: 'themis-launch' })).to.equal(
        'continue',
      );
      expect(
        launchOwnership(
          'themis-launch',
          { [LAUNCH_GATE_TAG]: 'false' },
          { launchHookName: 'themis-launch' },
        ),
      ).to.equal('continue');
    });

    it("leaves another tool's launch hook alone, tag or not", () => {
      const config = { launchHookName: 'themis-launch' };
      expect(launchOwnership('bootstrap', tagged, config)).to.equal('not-ours');
      expect(launchOwnership('bootstrap', {}, config)).to.equal('not-ours');
    });

    it('without a configured hook name, takes the tag as the opt-in for any launch hook', () => {
      expect(launchOwnership('any', tagged, {})).to.equal('gate');
      expect(launchOwnership('any', {}, {})).to.equal('not-ours');
    });

    it('reads the tag as on only for "true" (any case, spaces trimmed)', () => {
      expect(launchGateOn({ [LAUNCH_GATE_TAG]: ' TRUE ' })).to.equal(true);
      for (const value of ['yes', '1', 'false', '']) {
        expect(launchGateOn({ [LAUNCH_GATE_TAG]: value })).to.equal(false);
      }
      expect(launchGateOn({})).to.equal(false);
    });
  });

  describe('abandons in a row', () => {
    it('counts from the tag and writes count and time back', () => {
      const previous = readAbandonStreak({ [LAUNCH_ABANDONS_TAG]: '2 2024-05-01T11:00:00.000Z' });
      expect(previous).to.deep.equal({ count: 2, lastMs: Date.parse('2024-05-01T11:00:00Z') });
      const next = nextAbandonStreak(previous, T0);
      expect(next.tagValue).to.equal('3 2024-05-01T12:00:00.000Z');
      expect(next.streak.count).to.equal(3);
      expect(next.loopLikely).to.equal(true);
    });

    it('starts at one without the tag, and calls no loop before the threshold', () => {
      const first = nextAbandonStreak(readAbandonStreak({}), T0);
      expect(first.streak.count).to.equal(1);
      expect(first.loopLikely).to.equal(false);
      const below = nextAbandonStreak({ count: LAUNCH_LOOP_THRESHOLD - 2 }, T0);
      expect(below.loopLikely).to.equal(false);
      expect(nextAbandonStreak({ count: LAUNCH_LOOP_THRESHOLD - 1 }, T0).loopLikely).to.equal(true);
    });

    it('reads an unreadable tag as no streak (an operator may have edited it)', () => {
      for (const value of ['', 'many', '-1', '3 days ago', '1e3']) {
        expect(readAbandonStreak({ [LAUNCH_ABANDONS_TAG]: value }).count).to.equal(0);
      }
      expect(readAbandonStreak({ [LAUNCH_ABANDONS_TAG]: '4' })).to.deep.equal({ count: 4 });
      expect(readAbandonStreak({ [LAUNCH_ABANDONS_TAG]: '4 soon' })).to.deep.equal({ count: 4 });
    });

    it('says nothing for the first abandon, counts the second, warns of a loop from the third', () => {
      expect(streakSentence({ count: 0 }, 1)).to.equal('');
      const second = streakSentence({ count: 1, lastMs: T0 }, 2);
      expect(second)
        .to.match(/launch 2 in a row/)
        .and.match(/2024-05-01T12:00:00.000Z/);
      expect(second).to.not.match(/replacement loop/);
      expect(streakSentence({ count: 2 }, 3)).to.match(/replacement loop is likely/);
    });
  });

  describe('ecsReadiness', () => {
    it('is ready (idle) once the container instance is ACTIVE', () => {
      expect(ecsReadiness('ACTIVE').status).to.equal('idle');
    });

    it('is not ready while unregistered, registering or draining', () => {
      expect(ecsReadiness(undefined)).to.include({
        status: 'unknown',
        reason: 'not registered in the cluster yet',
      });
      expect(ecsReadiness('REGISTERING').reason).to.equal('container instance is REGISTERING');
      expect(ecsReadiness('DRAINING').status).to.equal('unknown');
    });
  });
});
