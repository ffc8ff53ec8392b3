import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { z } from 'zod';
import {
  DEFAULT_SETTINGS,
  ENABLED_TAG,
  mergeSettings,
  normaliseProbePath,
  parseOrThrow,
  parseSettingsFromEnv,
  parseSettingsFromObject,
  parseSettingsFromTags,
  splitTargetInput,
  targetInput,
  toConfigError,
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

// What an operator sees when a value is wrong, and what each spelling means. Added for the
// mutation run (docs/mutation.md): each test names the behaviour a surviving mutant broke.
describe('config: what operators are told', () => {
  function messageOf(fn: () => unknown): string {
    return configErrorOf(fn).message;
  }

  describe('the README settings table', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = [
      ...readme.matchAll(
        /^\| `(\w+)` +\| `?([^|`]+?)`? +\| `(THEMIS_\w+)` +\| `(themis:[\w-]+)` +\|$/gm,
      ),
    ];
    // A value each setting accepts, as a variable or tag spells it, and what it becomes.
    const samples: Record<string, [string, unknown]> = {
      metricsPort: ['9100', 9100],
      busyURL: ['busy', '/busy'],
      busyValue: ['WORKING', 'WORKING'],
      idleValue: ['RESTING', 'RESTING'],
      timeoutMs: ['750', 750],
      dryRun: ['true', true],
      protectUnknown: ['yes', true],
      ecsCluster: ['jobs', 'jobs'],
      queueUrl: [
        'https://sqs.us-east-1.amazonaws.com/123456789012/work',
        'https://sqs.us-east-1.amazonaws.com/123456789012/work',
      ],
    };

    it('lists every setting themis reads', () => {
      expect(rows.map((row) => row[1]).sort()).to.deep.equal(Object.keys(samples).sort());
    });

    for (const [, field, documentedDefault, variable, tag] of rows) {
      it(`reads ${field} from ${variable} and ${tag}, with the documented default`, () => {
        const [raw, value] = samples[field!]!;
        expect(parseSettingsFromEnv({ [variable!]: raw })).to.deep.equal({ [field!]: value });
        expect(parseSettingsFromTags({ [tag!]: raw })).to.deep.equal({ [field!]: value });
        const defaults = new Map(Object.entries(mergeSettings()));
        expect(String(defaults.get(field!) ?? 'none')).to.equal(documentedDefault);
      });
    }

    it(`tells operators to opt a group in with the tag themis discovers (${ENABLED_TAG})`, () => {
      expect(readme).to.include(`\`${ENABLED_TAG}=true\``);
    });
  });

  describe('numbers and booleans', () => {
    it('accepts a number written with spaces around it, as a hand-edited variable may be', () => {
      expect(parseSettingsFromEnv({ THEMIS_METRICS_PORT: ' 9100\n' })).to.deep.equal({
        metricsPort: 9100,
      });
    });

    const whole: Array<[string, unknown]> = [
      ['digits then letters', '9000x'],
      ['a fraction', 90.5],
      ['a fraction as text', '90.5'],
    ];
    for (const [what, metricsPort] of whole) {
      it(`says a port must be a whole number when given ${what}`, () => {
        expect(messageOf(() => parseSettingsFromObject({ metricsPort }))).to.equal(
          'metricsPort: must be a whole number',
        );
      });
    }

    it('names the types a setting takes when given another type', () => {
      expect(messageOf(() => parseSettingsFromObject({ metricsPort: true }))).to.equal(
        'metricsPort: must be a number or a string',
      );
      expect(messageOf(() => parseSettingsFromObject({ dryRun: 5 }))).to.equal(
        'dryRun: must be a boolean or a string',
      );
    });

    const spellings: Array<[string, boolean]> = [
      ['true', true],
      [' TRUE ', true],
      ['1', true],
      ['Yes', true],
      ['false', false],
      ['0', false],
      ['no', false],
      ['NO', false],
    ];
    for (const [spelling, value] of spellings) {
      it(`reads ${JSON.stringify(spelling)} as ${value}`, () => {
        expect(parseSettingsFromTags({ 'themis:dry-run': spelling })).to.deep.equal({
          dryRun: value,
        });
      });
    }

    it('leaves instances with an unknown answer unprotected unless asked', () => {
      expect(mergeSettings().protectUnknown).to.equal(false);
    });
  });

  describe('text values', () => {
    it('says an empty busy value is empty', () => {
      expect(messageOf(() => parseSettingsFromObject({ busyValue: '  ' }))).to.equal(
        'busyValue: must not be empty',
      );
    });

    it('accepts a busy value with a space inside (a space is not a control character)', () => {
      expect(parseSettingsFromObject({ busyValue: 'NOT IDLE' })).to.deep.equal({
        busyValue: 'NOT IDLE',
      });
    });

    for (const [what, char] of [
      ['a bell', '\u0007'],
      ['a unit separator', '\u001f'],
      ['DEL', '\u007f'],
    ]) {
      it(`refuses a busy value with ${what} in it, and says why`, () => {
        expect(messageOf(() => parseSettingsFromObject({ idleValue: `ID${char}LE` }))).to.equal(
          'idleValue: must not contain control characters',
        );
      });
    }

    it('accepts a 256-character value and refuses a 257-character one', () => {
      expect(parseSettingsFromObject({ busyValue: 'B'.repeat(256) }).busyValue).to.have.length(256);
      expect(() => parseSettingsFromObject({ busyValue: 'B'.repeat(257) })).to.throw(ConfigError);
    });
  });

  describe('the probe path', () => {
    it('carries the reason a path was refused into the error', () => {
      expect(messageOf(() => parseSettingsFromObject({ busyURL: 'http://x/y' }))).to.equal(
        'busyURL: must be a path, not a URL with a scheme',
      );
    });

    it('says a path starting with // names a host', () => {
      expect(() => normaliseProbePath('//evil.example/x')).to.throw(/names a host/);
    });

    it('accepts a colon after the first character of a segment', () => {
      expect(normaliseProbePath('/v1/status:busy')).to.equal('/v1/status:busy');
    });

    it("refuses a '.' segment", () => {
      expect(() => normaliseProbePath('/a/./status')).to.throw(/'\.' or '\.\.' segments/);
    });

    it("accepts '//' and '..' inside the query: only the path is checked for them", () => {
      expect(normaliseProbePath('/status?next=//x/../y')).to.equal('/status?next=//x/../y');
    });

    for (const path of ['/a"b', '/a<b>', '/a{b}', '/a|b', '/status^']) {
      it(`refuses ${JSON.stringify(path)}: a character a URL path cannot hold`, () => {
        expect(() => normaliseProbePath(path)).to.throw(/characters not allowed in a URL path/);
      });
    }

    it('accepts a 512-character path and refuses a longer one, saying so', () => {
      const longest = `/${'a'.repeat(511)}`;
      expect(normaliseProbePath(longest)).to.equal(longest);
      expect(() => normaliseProbePath(`${longest}a`)).to.throw(/at most 512 characters/);
    });
  });

  describe('naming the field', () => {
    it('says an unknown field is unknown', () => {
      expect(messageOf(() => parseSettingsFromObject({ metricPort: 9000 }))).to.equal(
        'metricPort: unknown field (a typo?)',
      );
    });

    it('names a nested field by its path', () => {
      const schema = z.strictObject({ outer: z.strictObject({ port: z.number() }) });
      expect(configErrorOf(() => parseOrThrow(schema, { outer: { port: 'x' } })).field).to.equal(
        'outer.port',
      );
      expect(messageOf(() => parseOrThrow(schema, { outer: { port: 1, prot: 2 } }))).to.equal(
        'outer.prot: unknown field (a typo?)',
      );
    });

    it("names 'config' when the whole input is not an object", () => {
      expect(configErrorOf(() => parseOrThrow(targetInput, 'asg-1')).field).to.equal('config');
    });

    it("names 'config' for an error zod reports without an issue", () => {
      expect(toConfigError(new z.ZodError([])).field).to.equal('config');
    });
  });

  describe('targets', () => {
    it('accepts a target that names only its group: every setting has a default', () => {
      expect(parseOrThrow(targetInput, { asgName: 'workers' })).to.deep.equal({
        asgName: 'workers',
      });
    });

    it('trims a group name and a region', () => {
      expect(
        parseOrThrow(targetInput, { asgName: ' workers ', region: ' eu-west-1 ' }),
      ).to.deep.equal({ asgName: 'workers', region: 'eu-west-1' });
    });

    it('says an empty group name is empty, and refuses control characters in one', () => {
      expect(messageOf(() => parseOrThrow(targetInput, { asgName: ' ' }))).to.equal(
        'asgName: must not be empty',
      );
      expect(messageOf(() => parseOrThrow(targetInput, { asgName: 'a\u0007b' }))).to.equal(
        'asgName: must not contain control characters',
      );
    });

    for (const region of ['us-gov-west-1', 'ap-southeast-2', 'eu-central-10']) {
      it(`accepts the region ${region}`, () => {
        expect(parseOrThrow(targetInput, { asgName: 'g', region }).region).to.equal(region);
      });
    }

    for (const [what, region] of [
      ['an availability zone', 'us-east-1a'],
      ['an endpoint host', 'ec2.us-east-1'],
      ['a region without its number', 'us-east'],
    ]) {
      it(`refuses ${what} as a region, and says what a region looks like`, () => {
        expect(messageOf(() => parseOrThrow(targetInput, { asgName: 'g', region }))).to.equal(
          'region: must be an AWS region such as us-east-1',
        );
      });
    }
  });
});
