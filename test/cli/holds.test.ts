import { expect } from 'chai';
import {
  actionStartMs,
  chooseHook,
  formatDuration,
  holdKind,
  holdRows,
  LAUNCHING,
  releaseConsequence,
  transitionOf,
} from '../../lib/cli/holds.js';
import { TERMINATING } from '../../lib/gate/state.js';
import type { GroupInstance, HookInfo, ScalingActivity } from '../../lib/ports.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');

function hook(name: string, transition: string, extra: Partial<HookInfo> = {}): HookInfo {
  return {
    hookName: name,
    groupName: 'workers',
    transition,
    heartbeatTimeoutSeconds: 300,
    globalTimeoutSeconds: 30_000,
    defaultResult: 'CONTINUE',
    ...extra,
  };
}

function member(instanceId: string, lifecycleState: string): GroupInstance {
  return { instanceId, lifecycleState, protectedFromScaleIn: false };
}

function activity(description: string, statusCode: string, startIso: string): ScalingActivity {
  return { description, statusCode, startTimeMs: Date.parse(startIso) };
}

describe('cli/holds', () => {
  it('counts *:Wait as waiting and *:Retained as retained, nothing else', () => {
    const states = [
      'Terminating:Wait',
      'Pending:Wait',
      'Warmed:Pending:Wait',
      'Warmed:Terminating:Wait',
      'Terminating:Retained',
      'Warmed:Pending:Retained',
      'InService',
      'Terminating',
      'Terminating:Proceed',
      'Standby',
      'Warmed:Stopped',
    ];
    expect(states.map((s) => [s, holdKind(s)])).to.deep.equal([
      ['Terminating:Wait', 'wait'],
      ['Pending:Wait', 'wait'],
      ['Warmed:Pending:Wait', 'wait'],
      ['Warmed:Terminating:Wait', 'wait'],
      ['Terminating:Retained', 'retained'],
      ['Warmed:Pending:Retained', 'retained'],
      ['InService', undefined],
      ['Terminating', undefined],
      ['Terminating:Proceed', undefined],
      ['Standby', undefined],
      ['Warmed:Stopped', undefined],
    ]);
  });

  it('maps launch states to the launching hook and terminate states to the terminating hook', () => {
    expect(transitionOf('Pending:Wait')).to.equal(LAUNCHING);
    expect(transitionOf('Warmed:Pending:Wait')).to.equal(LAUNCHING);
    expect(transitionOf('Terminating:Wait')).to.equal(TERMINATING);
    expect(transitionOf('Warmed:Terminating:Retained')).to.equal(TERMINATING);
    expect(transitionOf('Standby')).to.equal(undefined);
  });

  describe('when the lifecycle action started', () => {
    const activities = [
      activity(
        'Terminating EC2 instance: i-0000000000000000b',
        'MidLifecycleAction',
        '2026-11-26T11:50:00Z',
      ),
      activity(
        'Launching a new EC2 instance: i-0000000000000000c',
        'Successful',
        '2026-11-26T11:40:00Z',
      ),
      activity(
        'Terminating EC2 instance: i-0000000000000000a',
        'MidLifecycleAction',
        '2026-11-26T11:30:00Z',
      ),
      activity(
        'Launching a new EC2 instance: i-0000000000000000a',
        'Successful',
        '2026-11-26T09:00:00Z',
      ),
      activity(
        'Launching a new EC2 instance: i-0000000000000000d',
        'MidLifecycleAction',
        '2026-11-25T09:00:00Z',
      ),
    ];

    it('takes the newest unfinished activity that names the instance', () => {
      expect(actionStartMs(activities, 'i-0000000000000000a')).to.equal(
        Date.parse('2026-11-26T11:30:00Z'),
      );
      expect(actionStartMs(activities, 'i-0000000000000000b')).to.equal(
        Date.parse('2026-11-26T11:50:00Z'),
      );
    });

    it('says unknown when the newest activity about the instance has finished', () => {
      // Its hold started after what we read (or the activity list is not telling): no guess.
      expect(actionStartMs(activities, 'i-0000000000000000c')).to.equal(undefined);
    });

    it('says unknown when no activity names the instance', () => {
      expect(actionStartMs(activities, 'i-00000000000000000')).to.equal(undefined);
    });

    it('does not take an activity naming a longer id that starts with the same characters', () => {
      expect(actionStartMs(activities, 'i-0000000000')).to.equal(undefined);
    });
  });

  describe('rows', () => {
    const hooks = [
      hook('drain', TERMINATING, { heartbeatTimeoutSeconds: 600, globalTimeoutSeconds: 60_000 }),
      hook('warmup', LAUNCHING, { defaultResult: 'ABANDON' }),
    ];
    const rows = holdRows({
      instances: [
        member('i-in', 'InService'),
        member('i-t', 'Terminating:Wait'),
        member('i-p', 'Pending:Wait'),
        member('i-r', 'Terminating:Retained'),
        member('i-w', 'Warmed:Terminating:Wait'),
      ],
      hooks,
      activities: [
        activity('Terminating EC2 instance: i-t', 'MidLifecycleAction', '2026-11-26T11:58:00Z'),
      ],
      addresses: new Map([
        ['i-t', '127.0.0.2'],
        ['i-p', '127.0.0.3'],
      ]),
      probes: new Map([['i-t', { status: 'busy' as const, latencyMs: 4 }]]),
      nowMs: NOW,
    });
    const byId = Object.fromEntries(rows.map((r) => [r.instanceId, r]));

    it('lists only held instances, sorted by id', () => {
      expect(rows.map((r) => r.instanceId)).to.deep.equal(['i-p', 'i-r', 'i-t', 'i-w']);
    });

    it('gives how long the instance has waited and its hook deadline from the start', () => {
      expect(byId['i-t']).to.include({
        waitingSince: '2026-11-26T11:58:00.000Z',
        waitedSeconds: 120,
        probe: 'busy',
        latencyMs: 4,
        address: '127.0.0.2',
        hold: 'wait',
      });
      expect(byId['i-t']!.hooks).to.deep.equal([
        {
          hookName: 'drain',
          heartbeatTimeoutSeconds: 600,
          globalTimeoutSeconds: 60_000,
          defaultResult: 'CONTINUE',
          globalDeadline: new Date(Date.parse('2026-11-26T11:58:00Z') + 60_000_000).toISOString(),
          secondsLeft: 60_000 - 120,
        },
      ]);
    });

    it('says unknown (null) for the wait and the deadline when the start is unknown', () => {
      expect(byId['i-p']).to.include({ waitingSince: null, waitedSeconds: null });
      expect(
        byId['i-p']!.hooks.map((h) => [h.hookName, h.globalDeadline, h.secondsLeft]),
      ).to.deep.equal([['warmup', null, null]]);
    });

    it('marks an instance with an address but no answer as not probed, and one without as skipped', () => {
      expect(byId['i-p']).to.include({ probe: 'skipped', reason: 'not probed' });
      expect(byId['i-w']).to.include({ probe: 'skipped', reason: 'no private IP address' });
    });
  });

  describe('which hook to release', () => {
    const hooks = [
      hook('drain', TERMINATING),
      hook('warmup', LAUNCHING),
      hook('logs', TERMINATING),
    ];

    it("takes the only hook of the instance's transition", () => {
      expect(chooseHook(hooks, 'Pending:Wait', 'workers').hookName).to.equal('warmup');
    });

    it('asks for --hook when two hooks could hold the instance', () => {
      expect(() => chooseHook(hooks, 'Terminating:Wait', 'workers')).to.throw(
        'Terminating:Wait may be held by any of the hooks drain, logs: pass --hook',
      );
      expect(chooseHook(hooks, 'Terminating:Wait', 'workers', 'logs').hookName).to.equal('logs');
    });

    it('refuses a hook name the group does not have', () => {
      expect(() => chooseHook(hooks, 'Terminating:Wait', 'workers', 'dran')).to.throw(
        'group workers has no lifecycle hook named "dran"',
      );
    });

    it('says so when no hook of that transition exists', () => {
      expect(() => chooseHook([hooks[1]!], 'Terminating:Wait', 'workers')).to.throw(
        /group workers has no autoscaling:EC2_INSTANCE_TERMINATING lifecycle hook/,
      );
    });
  });

  it('says what Auto Scaling does after each result', () => {
    expect(releaseConsequence('Terminating:Wait', 'CONTINUE')).to.equal(
      'Auto Scaling terminates it',
    );
    expect(releaseConsequence('Terminating:Wait', 'ABANDON')).to.match(/skipping the remaining/);
    expect(releaseConsequence('Pending:Wait', 'CONTINUE')).to.equal('it goes InService');
    expect(releaseConsequence('Pending:Wait', 'ABANDON')).to.equal('Auto Scaling terminates it');
    expect(releaseConsequence('Warmed:Pending:Wait', 'CONTINUE')).to.match(/warm pool/);
  });

  it('writes durations short', () => {
    expect([0, 59, 61, 3600, 3725, 172_800].map(formatDuration)).to.deep.equal([
      '0s',
      '59s',
      '1m01s',
      '1h00m',
      '1h02m',
      '48h00m',
    ]);
  });
});
