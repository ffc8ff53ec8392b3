import type { Command } from 'commander';
import { CommandFailed, CLI_CALL_TIMEOUT_MS, type CliCommand } from '../context.js';
import { holdsTable } from '../format.js';
import { ACTIVITIES_READ, heldInstances, holdRows } from '../holds.js';
import { addTargetOptions, resolveCliTarget, type TargetFlags } from '../target.js';
import { probeMany } from '../../probe.js';
import type { ProbeResult } from '../../ports.js';
import { Deadline } from '../../time.js';

/**
 * `themis holds`: the group's instances held by lifecycle hooks (its members and its warm
 * pool), how long each has waited, its probe answer now and its hook's deadline. Changes
 * nothing.
 */
export const holdsCommand: CliCommand = {
  register(program, ctx) {
    addTargetOptions(
      program
        .command('holds')
        .description(
          "instances waiting in the group's lifecycle hooks: how long, their probe answer now, their hook's deadline (changes nothing)",
        ),
    ).action(async (flags: TargetFlags, command: Command) => {
      const { debug } = command.optsWithGlobals<{ debug?: boolean }>();
      const log = ctx.log(debug ?? false);
      const { target, ports, listing } = await resolveCliTarget(flags, ctx);
      const call = <T>(what: string, work: (signal: AbortSignal) => Promise<T>) =>
        Deadline.after(CLI_CALL_TIMEOUT_MS).run(what, work);
      const group = target.asgName;

      const members =
        listing?.instances ??
        (
          await call('DescribeAutoScalingGroups', (signal) =>
            ports.groups.describeGroups([group], { signal }),
          )
        ).find((g) => g.name === group)?.instances;
      if (!members) {
        throw new CommandFailed(`Auto Scaling group "${group}" not found in ${target.region}`);
      }
      const [hooks, warm] = await Promise.all([
        call('DescribeLifecycleHooks', (signal) => ports.holds.listHooks(group, { signal })),
        call('DescribeWarmPool', (signal) => ports.holds.warmPoolInstances(group, { signal })),
      ]);
      const instances = [...members, ...warm];
      const held = heldInstances(instances);
      const ids = held.map((i) => i.instanceId);
      const [activities, addresses] = held.length
        ? await Promise.all([
            call('DescribeScalingActivities', (signal) =>
              ports.holds.recentActivities(group, ACTIVITIES_READ, { signal }),
            ),
            call('DescribeInstances', (signal) =>
              ports.addresses.privateAddresses(ids, { signal }),
            ),
          ])
        : [[], new Map<string, string>()];

      // The probe has its own deadline (timeoutMs); the loopback guard throws from here.
      const reachable = held.flatMap((i) => {
        const address = addresses.get(i.instanceId);
        return address ? [{ instanceId: i.instanceId, address }] : [];
      });
      const probes = new Map<string, ProbeResult>(
        (await probeMany(ctx.prober, reachable, target)).map((p) => [p.instanceId, p.result]),
      );
      const rows = holdRows({
        instances,
        hooks,
        activities,
        addresses,
        probes,
        nowMs: (ctx.clock ?? Date.now)(),
      });
      for (const row of rows) {
        log.info('held', {
          group,
          instanceId: row.instanceId,
          lifecycleState: row.lifecycleState,
          waitedSeconds: row.waitedSeconds,
          probe: row.probe,
        });
      }
      if (flags.json) {
        ctx.out(
          `${JSON.stringify({ asgName: group, region: target.region, hooks, instances: rows }, null, 2)}\n`,
        );
      } else {
        ctx.out(holdsTable(group, target.region, hooks, rows));
      }
    });
  },
};
