import { expect } from 'chai';
import {
  DEFAULT_SETTINGS,
  mergeSettings,
  normaliseProbePath,
  parseOrThrow,
  parseSettingsFromEnv,
  parseSettingsFromObject,
  parseSettingsFromTags,
  splitTargetInput,
  targetInput,
} from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('config', () => {
  describe('probe path', () => {
    const good: Array<[string, string]> = [
      ['work_status', '/work_status'],
      ['/work_status', '/work_status'],
      ['/a/b-c_d.e~f', '/a/b-c_d.e~f'],
      ['/status?format=text', '/status?format=text'],
    ];
    for (const [input, expected] of good) {
      it(`normalises ${JSON.stringify(input)} to ${expected}`, () => {
        expect(normaliseProbePath(input)).to.equal(expected);
      });
    }

    const bad: Array<[string, RegExp]> = [
      ['http://evil.example/x', /scheme/],
      ['//evil.example/x', /'\/\/'/],
      ['/a//b', /'\/\/'/],
      ['user@host/x', /'@'/],
      ['/../etc/passwd', /'\.\.'/],
      ['/a/%2e%2e/b', /'\.\.'/],
      ['/a b', /whitespace/],
      ['/a\tb', /whitespace/],
      ['/a\u0000b', /control/],
      ['/a\\b', /backslash/],
      ['/a#frag', /'#'/],
      ['', /empty/],
      ['localhost:80/x', /scheme/],
      ['/%zz', /percent/],
    ];
    for (const [input, message] of bad) {
      it(`refuses ${JSON.stringify(input)}`, () => {
        expect(() => normaliseProbePath(input)).to.throw(message);
      });
    }
  });

  describe('settings from an event', () => {
    it('accepts numbers and booleans spelled as strings', () => {
      expect(
        parseSettingsFromObject({ metricsPort: '9100', dryRun: 'true', timeoutMs: '500' }),
      ).to.deep.equal({
        metricsPort: 9100,
        dryRun: true,
        timeoutMs: 500,
      });
    });

    const invalid: Array<[Record<string, unknown>, string]> = [
      [{ metricsPort: 0 }, 'metricsPort'],
      [{ metricsPort: '90000' }, 'metricsPort'],
      [{ metricsPort: '9000x' }, 'metricsPort'],
      [{ metricsPort: 90.5 }, 'metricsPort'],
      [{ dryRun: 'maybe' }, 'dryRun'],
      [{ busyValue: '   ' }, 'busyValue'],
      [{ idleValue: 42 }, 'idleValue'],
      [{ busyURL: 'http://x/y' }, 'busyURL'],
      [{ timeoutMs: 10 }, 'timeoutMs'],
      [{ metricPort: 9000 }, 'metricPort'],
    ];
    for (const [raw, field] of invalid) {
      it(`names ${field} when ${JSON.stringify(raw)} is invalid`, () => {
        expect(configErrorOf(() => parseSettingsFromObject(raw)).field).to.equal(field);
      });
    }
  });

  describe('settings from the environment', () => {
    it('reads THEMIS_* variables and ignores empty ones', () => {
      const env = { THEMIS_METRICS_PORT: '9200', THEMIS_BUSY_URL: 'busy', THEMIS_IDLE_VALUE: '' };
      expect(parseSettingsFromEnv(env)).to.deep.equal({ metricsPort: 9200, busyURL: '/busy' });
    });

    it('names the variable that holds a bad value', () => {
      expect(
        configErrorOf(() => parseSettingsFromEnv({ THEMIS_PROBE_TIMEOUT_MS: 'soon' })).field,
      ).to.equal('THEMIS_PROBE_TIMEOUT_MS');
    });
  });

  describe('settings from group tags', () => {
    it('reads themis:* tags and ignores the rest', () => {
      const tags = {
        'themis:metrics-port': '9300',
        'themis:dry-run': 'true',
        Name: 'x',
        'themis:enabled': 'true',
      };
      expect(parseSettingsFromTags(tags)).to.deep.equal({ metricsPort: 9300, dryRun: true });
    });

    it('names the tag that holds a bad value', () => {
      expect(
        configErrorOf(() => parseSettingsFromTags({ 'themis:busy-url': '//x' })).field,
      ).to.equal('themis:busy-url');
    });
  });

  describe('precedence', () => {
    it('is defaults < environment < tags < event', () => {
      const merged = mergeSettings(
        { metricsPort: 1, busyValue: 'WORKING', idleValue: 'RESTING' },
        { metricsPort: 2, busyValue: 'TAGGED' },
        { metricsPort: 3 },
      );
      expect(merged).to.deep.equal({
        ...DEFAULT_SETTINGS,
        metricsPort: 3,
        busyValue: 'TAGGED',
        idleValue: 'RESTING',
      });
    });

    it('keeps themis-lambda defaults when nothing is given', () => {
      expect(mergeSettings()).to.include({
        metricsPort: 9000,
        busyURL: '/work_status',
        busyValue: 'BUSY',
        idleValue: 'IDLE',
        dryRun: false,
      });
    });
  });

  describe('the themis event', () => {
    it('parses the seed event verbatim', () => {
      const parsed = parseOrThrow(targetInput, {
        asgName: 'Electric-Ziggurat',
        region: 'us-east-1',
        metricsPort: 9000,
        busyURL: 'work_status',
        busyValue: 'BUSY',
        idleValue: 'IDLE',
        dryRun: false,
      });
      expect(splitTargetInput(parsed)).to.deep.equal({
        asgName: 'Electric-Ziggurat',
        region: 'us-east-1',
        settings: {
          metricsPort: 9000,
          busyURL: '/work_status',
          busyValue: 'BUSY',
          idleValue: 'IDLE',
          dryRun: false,
        },
      });
    });

    it('requires asgName', () => {
      expect(
        configErrorOf(() => parseOrThrow(targetInput, { region: 'us-east-1' })).field,
      ).to.equal('asgName');
    });

    it("refuses the seed's fictional region", () => {
      expect(
        configErrorOf(() => parseOrThrow(targetInput, { asgName: 'g', region: 'us tirefire 1' }))
          .field,
      ).to.equal('region');
    });
  });
});
