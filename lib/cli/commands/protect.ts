import type { Command } from 'commander';
import { scanTarget } from '../../protect/scan.js';
import { CommandFailed, type CliCommand } from '../context.js';
import { protectText } from '../format.js';
import { addTargetOptions, failureOf, resolveCliTarget, type TargetFlags } from '../target.js';

/** `themis protect`: one pass of the protect function over one group, and what it changed. */
export const protectCommand: CliCommand = {
  register(program, ctx) {
    addTargetOptions(
      program
        .command('protect')
        .description('protect busy instances and unprotect idle ones in one pass'),
    )
      .option('--dry-run', 'plan and print, change nothing')
      .action(async (flags: TargetFlags & { dryRun?: boolean }, command: Command) => {
        const { debug } = command.optsWithGlobals<{ debug?: boolean }>();
        const { target, ports } = await resolveCliTarget(
          flags,
          ctx,
          flags.dryRun ? { dryRun: true } : {},
        );
        const report = await scanTarget(target, {
          ...ports,
          prober: ctx.prober,
          log: ctx.log(debug ?? false),
        });
        if (report.outcome !== 'ok' && report.outcome !== 'partial') throw failureOf(report);
        ctx.out(flags.json ? `${JSON.stringify(report, null, 2)}\n` : protectText(report));
        if (report.outcome === 'partial') throw new CommandFailed(report.message ?? 'partial');
      });
  },
};
