import { expect } from 'chai';
import { ConfigError, InvalidEventError } from '../../lib/errors.js';
import { parseProtectEvent } from '../../lib/protect/event.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, nothing was thrown');
}

const scheduled = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2025-10-08T16:53:06Z',
  region: 'eu-west-1',
  resources: ['arn:aws:events:eu-west-1:123456789012:rule/themis-protect'],
  detail: {},
};

describe('protect/event', () => {
  it('reads an EventBridge scheduled event as "scan the configured targets", not as a target', () => {
    expect(parseProtectEvent(scheduled, 'us-east-1')).to.deep.equal({ kind: 'configured' });
  });

  it('reads {} and no event at all as "scan the configured targets"', () => {
    expect(parseProtectEvent({}, 'us-east-1')).to.deep.equal({ kind: 'configured' });
    expect(parseProtectEvent(undefined, 'us-east-1')).to.deep.equal({ kind: 'configured' });
  });

  it('accepts the themis event verbatim, numbers and booleans as strings included', () => {
    const request = parseProtectEvent(
      {
        asgName: 'Electric-Ziggurat',
        region: 'us-tirefire-1',
        metricsPort: '9000',
        busyURL: 'work_status',
        busyValue: 'BUSY',
        idleValue: 'IDLE',
        dryRun: 'false',
      },
      'us-east-1',
    );
    expect(request).to.deep.equal({
      kind: 'explicit',
      targets: [
        {
          asgName: 'Electric-Ziggurat',
          region: 'us-tirefire-1',
          settings: {
            metricsPort: 9000,
            busyURL: '/work_status',
            busyValue: 'BUSY',
            idleValue: 'IDLE',
            dryRun: false,
          },
        },
      ],
    });
  });

  it("gives a target without a region the function's own region", () => {
    const request = parseProtectEvent({ asgName: 'workers' }, 'eu-central-1');
    expect(request).to.deep.equal({
      kind: 'explicit',
      targets: [{ asgName: 'workers', region: 'eu-central-1', settings: {} }],
    });
  });

  it('accepts { targets: [...] } for several groups', () => {
    const request = parseProtectEvent(
      { targets: [{ asgName: 'a' }, { asgName: 'b', region: 'eu-west-1', dryRun: true }] },
      'us-east-1',
    );
    expect(request).to.deep.equal({
      kind: 'explicit',
      targets: [
        { asgName: 'a', region: 'us-east-1', settings: {} },
        { asgName: 'b', region: 'eu-west-1', settings: { dryRun: true } },
      ],
    });
  });

  const badFields: Array<[string, unknown, string, RegExp?]> = [
    [
      'a port that is not a number',
      { asgName: 'a', metricsPort: 'ninety' },
      'metricsPort',
      /must be a whole number/,
    ],
    ['a port out of range', { asgName: 'a', metricsPort: 70000 }, 'metricsPort'],
    ['a URL instead of a path', { asgName: 'a', busyURL: 'http://evil/x' }, 'busyURL', /scheme/],
    [
      'a dryRun that is not a boolean',
      { asgName: 'a', dryRun: 'maybe' },
      'dryRun',
      /expected one of/,
    ],
    ['an empty busyValue', { asgName: 'a', busyValue: '  ' }, 'busyValue'],
    ['a bad region', { asgName: 'a', region: 'Mars' }, 'region'],
    ['a typo in a field name', { asgName: 'a', metricPort: 9000 }, 'metricPort', /unknown field/],
    ['no asgName', { metricsPort: 9000 }, 'asgName'],
    ['an empty asgName', { asgName: '' }, 'asgName'],
    [
      'a bad path in the first of several targets',
      { targets: [{ asgName: 'a', busyURL: '//evil/x' }, { asgName: 'b' }] },
      'targets[0].busyURL',
    ],
    [
      'a bad port in the second target',
      { targets: [{ asgName: 'a' }, { asgName: 'b', metricsPort: 0 }] },
      'targets[1].metricsPort',
    ],
    ['a target that is not an object', { targets: ['a'] }, 'targets[0]'],
    [
      'the same group twice',
      { targets: [{ asgName: 'a' }, { asgName: 'a' }] },
      'targets[1].asgName',
      /twice/,
    ],
    ['targets that is not an array', { targets: 'a,b' }, 'targets'],
    ['an empty targets list', { targets: [] }, 'targets', /at least one/],
    ['a field next to targets', { targets: [{ asgName: 'a' }], dryRun: true }, 'dryRun'],
  ];
  for (const [what, event, field, message] of badFields) {
    it(`refuses ${what} with a ConfigError naming ${field}`, () => {
      const err = thrownBy(() => parseProtectEvent(event, 'us-east-1'));
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).field).to.equal(field);
      if (message) expect((err as ConfigError).message).to.match(message);
    });
  }

  const unreadable: Array<[string, unknown]> = [
    ['a string', 'workers'],
    ['an array', [{ asgName: 'a' }]],
    ['a number', 42],
    [
      'another EventBridge event',
      { ...scheduled, 'detail-type': 'EC2 Instance Launch Successful' },
    ],
  ];
  for (const [what, event] of unreadable) {
    it(`refuses ${what} as an invalid event`, () => {
      expect(thrownBy(() => parseProtectEvent(event, 'us-east-1'))).to.be.instanceOf(
        InvalidEventError,
      );
    });
  }
});
