import type { Command } from 'commander';
import { scanTarget } from '../../protect/scan.js';
import type { CliCommand } from '../context.js';
import { statusRows, statusTable } from '../format.js';
import { addTargetOptions, failureOf, resolveCliTarget, type TargetFlags } from '../target.js';

/** `themis status`: probe every InService instance and show it; changes nothing. */
export const statusCommand: CliCommand = {
  register(program, ctx) {
    addTargetOptions(
      program
        .command('status')
        .description("show each instance's state, protection and probe answer (changes nothing)"),
    ).action(async (flags: TargetFlags, command: Command) => {
      const { debug } = command.optsWithGlobals<{ debug?: boolean }>();
      const { target, ports } = await resolveCliTarget(flags, ctx);
      // A dry run: the same scan the function makes, without the changes.
      const report = await scanTarget(
        { ...target, dryRun: true },
        { ...ports, prober: ctx.prober, log: ctx.log(debug ?? false) },
      );
      if (report.outcome !== 'ok') throw failureOf(report);
      if (flags.json) {
        ctx.out(
          `${JSON.stringify(
            {
              asgName: report.asgName,
              region: report.region,
              metricsPort: target.metricsPort,
              busyURL: target.busyURL,
              instances: statusRows(report),
            },
            null,
            2,
          )}\n`,
        );
      } else {
        ctx.out(statusTable(report));
      }
    });
  },
};
