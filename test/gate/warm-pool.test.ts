import { expect } from 'chai';
import {
  LAUNCHING,
  PENDING_WAIT,
  TERMINATING,
  TERMINATING_WAIT,
  WARMED_PENDING_WAIT,
  WARMED_TERMINATING_WAIT,
} from '../../lib/aws/facts.js';
import { isLifecyclePlace, PASSAGES, passageOf, type Passage } from '../../lib/gate/warm-pool.js';
import {
  EVENT_REFERENCE_LAUNCH,
  WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL,
  WARM_POOL_EXAMPLE_2_LEAVE_POOL,
  WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP,
  WARM_POOL_EXAMPLE_4_RETURN_TO_POOL,
} from '../fixtures/aws-lifecycle-events.js';

type Detail = { LifecycleTransition: string; Origin?: string; Destination?: string };

function passageOfEvent(event: { detail: Detail }): Passage {
  const { LifecycleTransition, Origin, Destination } = event.detail;
  return passageOf(
    LifecycleTransition,
    isLifecyclePlace(Origin) ? Origin : undefined,
    isLifecyclePlace(Destination) ? Destination : undefined,
  );
}

describe('gate/warm-pool', () => {
  describe("AWS's documented example events", () => {
    // Each row: the example, the passage, and the wait state the user guide names for it.
    const table: Array<[string, { detail: Detail }, Passage, string]> = [
      [
        'Example 1 (EC2 → WarmPool)',
        WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL,
        'launch-into-pool',
        WARMED_PENDING_WAIT,
      ],
      [
        'Example 2 (WarmPool → AutoScalingGroup)',
        WARM_POOL_EXAMPLE_2_LEAVE_POOL,
        'leave-pool',
        PENDING_WAIT,
      ],
      [
        'Example 3 (EC2 → AutoScalingGroup)',
        WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP,
        'launch',
        PENDING_WAIT,
      ],
      [
        'Example 4 (AutoScalingGroup → WarmPool)',
        WARM_POOL_EXAMPLE_4_RETURN_TO_POOL,
        'return-to-pool',
        WARMED_PENDING_WAIT,
      ],
      ['the event reference launch (no warm pool)', EVENT_REFERENCE_LAUNCH, 'launch', PENDING_WAIT],
    ];
    for (const [name, event, passage, waitState] of table) {
      it(`reads ${name} as ${passage}, waiting in ${waitState}`, () => {
        expect(passageOfEvent(event)).to.equal(passage);
        expect(PASSAGES[passage].waitState).to.equal(waitState);
      });
    }
  });

  it('holds an instance returning to the warm pool like a termination, and names it so', () => {
    expect(PASSAGES['return-to-pool'].gate).to.equal('terminate');
    expect(PASSAGES['return-to-pool'].releasedFor).to.match(/return to the warm pool/);
    expect(PASSAGES['return-to-pool'].releasedFor).to.match(/not terminated/);
  });

  it('readiness-gates every launch passage, into the pool as into the group', () => {
    const launches = (Object.keys(PASSAGES) as Passage[]).filter(
      (p) => PASSAGES[p].gate === 'launch',
    );
    expect(launches.sort()).to.deep.equal(['launch', 'launch-into-pool', 'leave-pool']);
  });

  it('reads a termination out of the warm pool as waiting in Warmed:Terminating:Wait', () => {
    expect(passageOf(TERMINATING, 'WarmPool', 'EC2')).to.equal('terminate-from-pool');
    expect(PASSAGES['terminate-from-pool'].waitState).to.equal(WARMED_TERMINATING_WAIT);
  });

  it('reads events without Origin/Destination (no warm pool) by their transition alone', () => {
    expect(passageOf(LAUNCHING)).to.equal('launch');
    expect(passageOf(TERMINATING)).to.equal('terminate');
    expect(PASSAGES.terminate.waitState).to.equal(TERMINATING_WAIT);
  });

  it('holds a termination with an undocumented combination as a plain termination', () => {
    expect(passageOf(TERMINATING, 'EC2', 'WarmPool')).to.equal('terminate');
    expect(passageOf(LAUNCHING, 'AutoScalingGroup', 'WarmPool')).to.equal('launch');
  });

  it('refuses a transition that is not a lifecycle transition', () => {
    expect(() => passageOf('autoscaling:EC2_INSTANCE_LAUNCH_ERROR')).to.throw(/not a lifecycle/);
  });

  it('knows only the three documented places', () => {
    expect(['EC2', 'AutoScalingGroup', 'WarmPool'].every(isLifecyclePlace)).to.equal(true);
    expect(isLifecyclePlace('warmpool')).to.equal(false);
    expect(isLifecyclePlace(7)).to.equal(false);
  });
});
