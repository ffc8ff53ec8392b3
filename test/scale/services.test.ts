import { expect } from 'chai';
import { planService, type ScaleEvent, type ServiceInput } from '../../lib/scale/services.js';

const ev = (metricMin: number | null, metricMax: number | null, action: number): ScaleEvent => ({
  metricMin,
  metricMax,
  action,
});

/** A queue-driven worker: grow by 2 above 100 messages, by 1 from 10, shrink by 1 below 1. */
const EVENTS = [ev(100, null, 2), ev(10, 99, 1), ev(null, 0, -1)];

function plan(input: Partial<ServiceInput>) {
  return planService({ name: 'worker', runningCount: 3, min: 1, max: 6, events: EVENTS, ...input });
}

describe('scale/services', () => {
  const table: Array<[string, Partial<ServiceInput>, number]> = [
    ['raises a service below min to min', { runningCount: 0 }, 1],
    [
      'raises a service below min to min whatever the metric says',
      { runningCount: 0, metric: 0 },
      1,
    ],
    ['takes the first event whose window holds the metric', { metric: 500 }, 5],
    ['counts a window as inclusive at its lower bound', { metric: 100 }, 5],
    ['counts a window as inclusive at its upper bound', { metric: 99 }, 4],
    ['reads null as unbounded below', { metric: -5 }, 2],
    ['leaves the count alone when no window holds the metric', { metric: 5 }, 3],
    ['leaves the count alone without a metric value', { metric: undefined }, 3],
    [
      'skips an event that would go above max, and takes the next that fits',
      { runningCount: 5, metric: 500, events: [ev(100, null, 2), ev(0, null, 1)] },
      6,
    ],
    ['skips an event that would go below min', { runningCount: 1, metric: 0 }, 1],
    ['allows an event that lands exactly on max', { runningCount: 4, metric: 500 }, 6],
  ];
  for (const [name, input, desired] of table) {
    it(name, () => {
      const result = plan(input);
      expect(result.desiredCount).to.equal(desired);
      expect(result.change).to.equal(desired - result.runningCount);
    });
  }

  it('lowers a service above max to max: a decrease, not the seed’s increase (sign error)', () => {
    const result = plan({ runningCount: 9, metric: 500 });

    expect(result.desiredCount).to.equal(6);
    // The seed set task_diff = running − max (+3) and counted it as tasks to add.
    expect(result.change).to.equal(-3);
    expect(result.reason).to.equal('9 running, above max 6');
  });

  it('says which event matched', () => {
    expect(plan({ metric: 20 }).reason).to.equal('metric 20 matched event 2 (10..99, action +1)');
  });
});

// Added for the mutation run (docs/mutation.md): the reasons the scale function logs and
// reports, word for word, and the edges of min and max. Each test names what a surviving
// mutant broke.
describe('scale/services: what an operator is told', () => {
  const reasons: Array<[string, Partial<ServiceInput>, string]> = [
    ['below min', { runningCount: 0 }, '0 running, below min 1'],
    ['above max', { runningCount: 9 }, '9 running, above max 6'],
    [
      'no metric, events to evaluate',
      { metric: undefined },
      'no metric value: events not evaluated',
    ],
    ['no metric, no events', { metric: undefined, events: [] }, 'within min and max'],
    ['an event that grows', { metric: 500 }, 'metric 500 matched event 1 (100..+∞, action +2)'],
    ['an event that shrinks', { metric: 0 }, 'metric 0 matched event 3 (-∞..0, action -1)'],
    [
      'an event that changes nothing',
      { metric: 0, events: [ev(null, 0, 0)] },
      'metric 0 matched event 1 (-∞..0, action 0)',
    ],
    [
      'no event that fits',
      { metric: 5 },
      'metric 5 matched no event that stays within min 1 and max 6',
    ],
  ];
  for (const [what, input, reason] of reasons) {
    it(`says why for ${what}: "${reason}"`, () => {
      expect(plan(input).reason).to.equal(reason);
    });
  }

  it('leaves a service at exactly min or max to its events', () => {
    expect(plan({ runningCount: 1, metric: 500 }).desiredCount).to.equal(3);
    expect(plan({ runningCount: 6, metric: 0 }).desiredCount).to.equal(5);
  });

  it('allows an event that lands exactly on min', () => {
    expect(plan({ runningCount: 2, metric: 0 }).desiredCount).to.equal(1);
  });
});
