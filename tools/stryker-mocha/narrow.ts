/**
 * A narrower Stryker config for a run over a few files (docs/mutation.md, "One file at a time"):
 *
 *   node --import tsx tools/stryker-mocha/narrow.ts <name> <file,...> <test file,...>
 *   nice -n 10 npx stryker run reports/stryker.<name>.json
 *
 * stryker.config.json with only these files mutated, only these test files run, concurrency 1,
 * and its own incremental file, reports and sandbox folder, so that runs of different files
 * (even at once) do not overwrite each other. Written under reports/, which git ignores.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const [name, mutate, spec] = process.argv.slice(2);
if (!name || !mutate || !spec) {
  console.error('usage: narrow.ts <name> <file,...> <test file,...>');
  process.exit(2);
}
const base = JSON.parse(readFileSync('stryker.config.json', 'utf8')) as Record<string, unknown> & {
  mochaOptions: Record<string, unknown>;
};
delete base.$schema;
const config = {
  ...base,
  mutate: mutate.split(','),
  concurrency: 1,
  mochaOptions: { ...base.mochaOptions, spec: spec.split(',') },
  incrementalFile: `reports/mutation/inc-${name}.json`,
  reporters: ['clear-text', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  tempDirName: `.stryker-tmp/${name}`,
};
mkdirSync('reports', { recursive: true });
const file = `reports/stryker.${name}.json`;
writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
console.log(file);
