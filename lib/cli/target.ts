/**
 * The options `status` and `protect` share, and turning them into a resolved Target with
 * the same code the Lambda uses: defaults < THEMIS_* variables < the group's tags < flags.
 */
import { dropUndefined } from '../collections.js';
import type { Command } from 'commander';
import {
  parseSettingsFromEnv,
  parseSettingsFromObject,
  regionName,
  type Target,
  type TargetSettings,
} from '../config.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_CONCURRENCY } from '../probe.js';
import { resolveTargets } from '../protect/targets.js';
import type { GroupReport } from '../protect/scan.js';
import type { GroupSnapshot } from '../ports.js';
import { CommandFailed, type CliContext, type CliPorts } from './context.js';

export interface TargetFlags {
  asg: string;
  region?: string;
  port?: string;
  path?: string;
  busyValue?: string;
  idleValue?: string;
  timeoutMs?: string;
  json?: boolean;
}

/** Flag spelling of each setting, so a bad value names the flag the operator typed. */
const FLAG_OF: Partial<Record<keyof TargetSettings, string>> = {
  metricsPort: '--port',
  busyURL: '--path',
  busyValue: '--busy-value',
  idleValue: '--idle-value',
  timeoutMs: '--timeout-ms',
  dryRun: '--dry-run',
};

export function addTargetOptions(command: Command): Command {
  return command
    .requiredOption('--asg <name>', 'Auto Scaling group name')
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile)')
    .option('--port <port>', 'metrics port to probe (default: 9000, or the group tag)')
    .option('--path <path>', 'busy URL path (default: /work_status, or the group tag)')
    .option('--busy-value <text>', 'answer meaning busy (default: BUSY)')
    .option('--idle-value <text>', 'answer meaning idle (default: IDLE)')
    .option('--timeout-ms <ms>', 'probe timeout in milliseconds (default: 2000)')
    .option('--json', 'print JSON for scripts');
}

export interface ResolvedCliTarget {
  target: Target;
  ports: CliPorts;
  /** The group as target resolution just read it (its members and tags). */
  listing?: GroupSnapshot;
}

export async function resolveCliTarget(
  flags: TargetFlags,
  ctx: CliContext,
  extra: Partial<TargetSettings> = {},
): Promise<ResolvedCliTarget> {
  const fromFlags = {
    ...parseSettingsFromObject(
      dropUndefined({
        metricsPort: flags.port,
        busyURL: flags.path,
        busyValue: flags.busyValue,
        idleValue: flags.idleValue,
        timeoutMs: flags.timeoutMs,
      }),
      (key) => FLAG_OF[key as keyof TargetSettings] ?? key,
    ),
    ...extra,
  };
  const connected = await connectRegion(flags.region, ctx);
  const [resolved] = await resolveTargets(
    {
      kind: 'explicit',
      targets: [{ asgName: flags.asg, region: connected.region, settings: fromFlags }],
    },
    {
      region: connected.region,
      settings: parseSettingsFromEnv(ctx.env),
      targets: [],
      tagDiscovery: false,
      scansPerInvocation: 1,
      probeConcurrency: DEFAULT_CONCURRENCY,
    },
    () => connected.ports.groups,
    ctx.log(false),
  );
  if (!resolved) throw new Error('no target resolved');
  if (resolved.report) throw failureOf(resolved.report);
  return {
    target: resolved.target,
    ports: connected.ports,
    ...(resolved.listing ? { listing: resolved.listing } : {}),
  };
}

/** The one-line error for a group report whose outcome is a failure. */
export function failureOf(report: GroupReport): Error {
  if (report.outcome === 'config-error' && report.field) {
    return new ConfigError(report.field, (report.message ?? '').replace(`${report.field}: `, ''));
  }
  return new CommandFailed(report.message ?? `${report.asgName}: ${report.outcome}`);
}

/** AWS for --region, else AWS_REGION / AWS_DEFAULT_REGION, else the SDK's own chain. */
export function connectRegion(
  flag: string | undefined,
  ctx: CliContext,
): Promise<{ region: string; ports: CliPorts }> {
  const asked = flag === undefined ? undefined : parseRegion(flag);
  return ctx.connect(asked ?? (ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || undefined));
}

function parseRegion(raw: string): string {
  const result = regionName.safeParse(raw);
  if (!result.success)
    throw new ConfigError('--region', result.error.issues[0]?.message ?? 'invalid');
  return result.data;
}
