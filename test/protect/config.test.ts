import { expect } from 'chai';
import { ConfigError } from '../../lib/errors.js';
import { parseProtectConfig } from '../../lib/protect/config.js';

function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    parseProtectConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('protect/config', () => {
  const base = { AWS_REGION: 'us-east-1' };

  it('defaults to tag discovery, one scan and a concurrency that follows the group', () => {
    expect(parseProtectConfig(base)).to.deep.equal({
      region: 'us-east-1',
      settings: {},
      targets: [],
      tagDiscovery: true,
      scansPerInvocation: 1,
    });
  });

  it('reads THEMIS_TARGETS, turning discovery off unless asked for', () => {
    const config = parseProtectConfig({
      ...base,
      THEMIS_TARGETS: JSON.stringify([
        { asgName: 'a' },
        { asgName: 'b', region: 'eu-west-1', metricsPort: '9100' },
      ]),
    });
    expect(config.targets).to.deep.equal([
      { asgName: 'a', region: 'us-east-1', settings: {} },
      { asgName: 'b', region: 'eu-west-1', settings: { metricsPort: 9100 } },
    ]);
    expect(config.tagDiscovery).to.equal(false);
    const both = parseProtectConfig({
      ...base,
      THEMIS_TARGETS: '[{"asgName":"a"}]',
      THEMIS_TAG_DISCOVERY: 'true',
    });
    expect(both.tagDiscovery).to.equal(true);
  });

  it('treats an empty THEMIS_TARGETS list like none', () => {
    expect(parseProtectConfig({ ...base, THEMIS_TARGETS: '[]' }).tagDiscovery).to.equal(true);
    expect(
      parseProtectConfig({ ...base, THEMIS_TARGETS: '[]', THEMIS_TAG_DISCOVERY: 'false' })
        .tagDiscovery,
    ).to.equal(false);
  });

  it('reads function-wide settings and the scan count', () => {
    const config = parseProtectConfig({
      ...base,
      THEMIS_METRICS_PORT: '9100',
      THEMIS_DRY_RUN: 'yes',
      THEMIS_SCANS_PER_INVOCATION: '4',
      THEMIS_PROBE_CONCURRENCY: '16',
    });
    expect(config.settings).to.deep.equal({ metricsPort: 9100, dryRun: true });
    expect(config.scansPerInvocation).to.equal(4);
    expect(config.probeConcurrency).to.equal(16);
  });

  const bad: Array<[string, NodeJS.ProcessEnv, string, RegExp?]> = [
    [
      'a bad port in the second THEMIS_TARGETS entry',
      { THEMIS_TARGETS: '[{"asgName":"a"},{"asgName":"b","metricsPort":"x"}]' },
      'THEMIS_TARGETS[1].metricsPort',
    ],
    [
      'a typo in a THEMIS_TARGETS entry',
      { THEMIS_TARGETS: '[{"asgName":"a","busyUrl":"/x"}]' },
      'THEMIS_TARGETS[0].busyUrl',
      /unknown field/,
    ],
    ['an entry that is not an object', { THEMIS_TARGETS: '["a"]' }, 'THEMIS_TARGETS[0]'],
    ['THEMIS_TARGETS that is not JSON', { THEMIS_TARGETS: 'a,b' }, 'THEMIS_TARGETS', /JSON/],
    ['THEMIS_TARGETS that is an object', { THEMIS_TARGETS: '{"asgName":"a"}' }, 'THEMIS_TARGETS'],
    [
      '13 scans per invocation',
      { THEMIS_SCANS_PER_INVOCATION: '13' },
      'THEMIS_SCANS_PER_INVOCATION',
    ],
    ['0 scans per invocation', { THEMIS_SCANS_PER_INVOCATION: '0' }, 'THEMIS_SCANS_PER_INVOCATION'],
    [
      'a fractional scan count',
      { THEMIS_SCANS_PER_INVOCATION: '2.5' },
      'THEMIS_SCANS_PER_INVOCATION',
    ],
    ['a bad discovery switch', { THEMIS_TAG_DISCOVERY: 'sometimes' }, 'THEMIS_TAG_DISCOVERY'],
    ['a bad probe concurrency', { THEMIS_PROBE_CONCURRENCY: '0' }, 'THEMIS_PROBE_CONCURRENCY'],
    ['a bad function-wide port', { THEMIS_METRICS_PORT: '-1' }, 'THEMIS_METRICS_PORT'],
    ['a bad function-wide path', { THEMIS_BUSY_URL: 'http://x/y' }, 'THEMIS_BUSY_URL'],
  ];
  for (const [what, env, field, message] of bad) {
    it(`refuses ${what} naming ${field}`, () => {
      const err = configErrorOf({ ...base, ...env });
      expect(err.field).to.equal(field);
      if (message) expect(err.message).to.match(message);
    });
  }

  it('refuses to start without a region', () => {
    expect(configErrorOf({}).field).to.equal('AWS_REGION');
  });
});
