/**
 * `npm run sim:long`: the property histories at length — 100,000 seeds by default (or
 * `npm run sim:long -- <count> [<first seed>]`), over every core. Prints the figures and
 * each excused case's cause; exit status 1 if any history broke a property (the first
 * failures are printed with their replay command).
 */
import { availableParallelism } from 'node:os';
import { formatTally, runSeedsInParallel } from './runs.js';

const count = Number(process.argv[2] ?? 100_000);
const from = Number(process.argv[3] ?? 1);
const started = performance.now();
const tally = await runSeedsInParallel(from, count, availableParallelism());
console.log(formatTally(tally));
for (const [kind, failures] of Object.entries(tally.failures)) {
  console.log(
    `\n=== ${kind}: ${tally.violations[kind as keyof typeof tally.violations]} histories`,
  );
  for (const f of failures ?? []) console.log(`\n${f}`);
}
console.log(`\n${Math.round((performance.now() - started) / 1000)} s`);
process.exitCode = Object.keys(tally.violations).length ? 1 : 0;
