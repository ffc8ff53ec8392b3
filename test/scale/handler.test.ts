import { expect } from 'chai';
import { InvalidEventError } from '../../lib/errors.js';
import { parseScaleEvent } from '../../lib/scale/handler.js';

describe('scale/handler events', () => {
  it('runs as configured for {} and the schedule’s event', () => {
    expect(parseScaleEvent({})).to.deep.equal({});
    expect(parseScaleEvent(undefined)).to.deep.equal({});
    expect(
      parseScaleEvent({ 'detail-type': 'Scheduled Event', source: 'aws.events', region: 'x' }),
    ).to.deep.equal({});
  });

  it('takes { dryRun } from the event', () => {
    expect(parseScaleEvent({ dryRun: true })).to.deep.equal({ dryRun: true });
  });

  it('refuses unknown fields and a non-boolean dryRun, naming them', () => {
    for (const [event, field] of [
      [{ dryrun: true }, 'dryrun'],
      [{ dryRun: 'yes' }, 'dryRun'],
    ] as const) {
      const err = (() => {
        try {
          parseScaleEvent(event);
        } catch (e) {
          return e;
        }
      })();
      expect(err).to.be.instanceOf(InvalidEventError);
      expect((err as InvalidEventError).field).to.equal(field);
    }
    expect(() => parseScaleEvent([])).to.throw(InvalidEventError);
  });
});
