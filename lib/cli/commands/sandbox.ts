import { CommandFailed, type CliCommand } from '../context.js';

interface SandboxFlags {
  fast?: boolean;
  speed?: string;
  seed?: string;
  live?: boolean;
  timeline?: boolean;
  ecs?: boolean;
  s3Script?: boolean;
}

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CommandFailed(`${flag}: must be a positive number`);
  return n;
}

/**
 * `themis sandbox` (`npm run sandbox`): the local demo on a simulated group with loopback
 * workers (sim/sandbox.ts). Nothing touches AWS. Exit status 1 if a busy instance was
 * terminated or an invariant broke.
 */
export const sandboxCommand: CliCommand = {
  register(program, ctx) {
    program
      .command('sandbox')
      .description('watch themis hold busy instances in a simulated group (local, no AWS)')
      .option('--speed <n>', 'virtual seconds per wall second', '60')
      .option('--fast', 'no pacing: run as fast as possible')
      .option('--seed <n>', 'seed for the replacements and delivery latencies')
      .option('--live', 'redraw a live table (default when stdout is a terminal)')
      .option('--timeline', 'print a line per event (default when stdout is not a terminal)')
      .option('--ecs', 'the ECS story: a cluster scaling in around a long task')
      .option('--s3-script', 'the S3-script story: a script from S3 runs before each release')
      .action(async (flags: SandboxFlags) => {
        const speed = positiveNumber('--speed', flags.speed);
        const seed = positiveNumber('--seed', flags.seed);
        const live = flags.live ? true : flags.timeline ? false : undefined;
        if (flags.ecs && flags.s3Script)
          throw new CommandFailed('--ecs, --s3-script: one story at a time');
        const story = flags.ecs ? 'ecs' : flags.s3Script ? 's3-script' : undefined;
        // The simulator is not product code: loaded only when this command runs (lint keeps
        // every other import of sim/ out of lib/ and functions/).
        const { runSandbox } = await import('../../../sim/sandbox.js');
        const summary = await runSandbox({
          out: ctx.out,
          ...(speed !== undefined ? { speed } : {}),
          ...(seed !== undefined ? { seed } : {}),
          ...(flags.fast ? { fast: true } : {}),
          ...(live !== undefined ? { live } : {}),
          ...(story ? { story } : {}),
        });
        if (summary.exitCode !== 0) {
          throw new CommandFailed(
            `${summary.terminatedWhileBusy.length} busy instance(s) terminated, ${summary.violations.length} invariant(s) broken`,
          );
        }
      });
  },
};
