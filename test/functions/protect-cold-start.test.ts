/**
 * functions/protect.ts parses its environment once, when the module loads: a bad value must
 * stop the cold start with a ConfigError naming the variable. Each case loads the module in
 * its own Node process (a module loads only once per process).
 */
import { expect } from 'chai';
import { runFresh } from '../helpers/fresh-process.js';

const coldStart = (env: Record<string, string>) =>
  runFresh(
    "import('./functions/protect.ts').then(() => console.log('loaded'), (e) => { console.error(e.name + ' ' + e.message); process.exit(3); })",
    env,
  );

describe('functions/protect cold start @slow', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'a bad port in the second THEMIS_TARGETS entry',
      { THEMIS_TARGETS: '[{"asgName":"a"},{"asgName":"b","metricsPort":"x"}]' },
      /^ConfigError THEMIS_TARGETS\[1\]\.metricsPort: must be a whole number/m,
    ],
    [
      'too many scans per invocation',
      { THEMIS_SCANS_PER_INVOCATION: '60' },
      /^ConfigError THEMIS_SCANS_PER_INVOCATION: /m,
    ],
  ];
  for (const [what, env, message] of cases) {
    it(`refuses to load with ${what}`, async () => {
      const run = await coldStart(env);
      expect(run.code).to.equal(3);
      expect(run.stderr).to.match(message);
    });
  }

  it('loads with a valid configuration', async () => {
    const run = await coldStart({ THEMIS_TARGETS: '[{"asgName":"a","metricsPort":"9100"}]' });
    expect(run.code).to.equal(0, run.stderr);
  });
});
