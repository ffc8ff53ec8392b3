/** How the CLI shows a scan: a table for people, JSON for scripts. */
import Table from 'cli-table3';
import type { GroupReport } from '../protect/scan.js';
import type { HookInfo } from '../ports.js';
import { formatDuration, type HoldRow, type HookDeadline } from './holds.js';

export interface StatusRow {
  instanceId: string;
  availabilityZone: string | null;
  lifecycleState: string | null;
  protected: boolean | null;
  /** busy | idle | unknown | skipped */
  probe: string;
  /** Why unknown or skipped. */
  reason: string | null;
  latencyMs: number | null;
  address: string | null;
}

export function statusRows(report: GroupReport): StatusRow[] {
  const rows: StatusRow[] = [
    ...report.probes.map((p) => ({
      instanceId: p.instanceId,
      availabilityZone: p.availabilityZone ?? null,
      lifecycleState: p.lifecycleState,
      protected: p.protectedBefore,
      probe: p.status,
      reason: p.reason ?? null,
      latencyMs: p.latencyMs,
      address: p.address,
    })),
    ...report.skipped.map((s) => ({
      instanceId: s.instanceId,
      availabilityZone: s.availabilityZone ?? null,
      lifecycleState: s.lifecycleState ?? null,
      protected: s.protectedFromScaleIn ?? null,
      probe: 'skipped',
      reason: s.reason,
      latencyMs: null,
      address: null,
    })),
  ];
  return rows.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

export function summaryLine(report: GroupReport): string {
  const n = (m: Record<string, string>) => Object.keys(m).length;
  return (
    `${report.asgName} (${report.region}): ${n(report.busy)} busy, ${n(report.idle)} idle, ` +
    `${n(report.error)} unknown, ${report.skipped.length} skipped`
  );
}

export function statusTable(report: GroupReport): string {
  const table = new Table({
    head: ['Instance', 'AZ', 'Lifecycle state', 'Protected', 'Probe', 'Latency'],
    // No colours: the output is read by people and by grep alike.
    style: { head: [], border: [] },
  });
  for (const row of statusRows(report)) {
    table.push([
      row.instanceId,
      row.availabilityZone ?? '',
      row.lifecycleState ?? '',
      row.protected === null ? '' : row.protected ? 'yes' : 'no',
      row.reason ? `${row.probe}: ${row.reason}` : row.probe,
      row.latencyMs === null ? '' : `${row.latencyMs} ms`,
    ]);
  }
  return `${table.toString()}\n${summaryLine(report)}\n`;
}

export function protectText(report: GroupReport): string {
  const lines: string[] = [];
  const status = (id: string) =>
    id in report.busy ? 'busy' : id in report.idle ? 'idle' : 'unknown';
  if (report.dryRun) {
    for (const id of report.planned.protect) lines.push(`would protect    ${id}  (${status(id)})`);
    for (const id of report.planned.unprotect)
      lines.push(`would unprotect  ${id}  (${status(id)})`);
  } else {
    for (const id of report.protected) lines.push(`protected    ${id}  (${status(id)})`);
    for (const id of report.unprotected) lines.push(`unprotected  ${id}  (${status(id)})`);
    for (const f of report.failed)
      lines.push(`FAILED       ${f.instanceId}  ${f.action}: ${f.reason}`);
  }
  const changes = report.planned.protect.length + report.planned.unprotect.length;
  const head = `${summaryLine(report)}${report.dryRun ? ' — dry run, nothing changed' : ''}`;
  if (changes === 0) lines.push('nothing to change');
  return `${head}\n${lines.join('\n')}\n`;
}

/** "terminate (TERMINATING): heartbeat 300 s, global 8h20m, default CONTINUE" */
function hookLine(h: HookInfo): string {
  return (
    `${h.hookName} (${h.transition.replace('autoscaling:EC2_INSTANCE_', '')}): heartbeat ` +
    `${h.heartbeatTimeoutSeconds} s, global ${formatDuration(h.globalTimeoutSeconds)}, ` +
    `default ${h.defaultResult}`
  );
}

/** "2026-11-27 04:37:55Z" */
function shortTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

function deadlineCell(h: HookDeadline): string {
  const global =
    h.globalDeadline === null || h.secondsLeft === null
      ? `global ${formatDuration(h.globalTimeoutSeconds)} from an unknown start`
      : h.secondsLeft <= 0
        ? `global deadline passed ${shortTime(h.globalDeadline)}`
        : `ends by ${shortTime(h.globalDeadline)} (in ${formatDuration(h.secondsLeft)})`;
  return `${h.hookName}: heartbeat ${h.heartbeatTimeoutSeconds} s; ${global} → ${h.defaultResult}`;
}

/**
 * How long: a waiting instance since its action started; a retained one is not waiting — it
 * shows since when its termination began (it was retained later; AWS records no moment).
 */
function waitingCell(row: HoldRow): string {
  if (row.retention) {
    const r = row.retention;
    return r.terminationSeconds === null || r.terminationStarted === null
      ? 'retained (since unknown)'
      : `retained; termination began ${shortTime(r.terminationStarted)} (${formatDuration(r.terminationSeconds)} ago)`;
  }
  return row.waitedSeconds === null ? 'unknown' : formatDuration(row.waitedSeconds);
}

/** `themis holds` for people: one row per held instance, then the group's hooks. */
export function holdsTable(
  group: string,
  region: string,
  hooks: readonly HookInfo[],
  rows: readonly HoldRow[],
): string {
  const lines: string[] = [];
  if (rows.length > 0) {
    const table = new Table({
      head: ['Instance', 'Lifecycle state', 'Waiting', 'Probe', 'Hook deadline'],
      style: { head: [], border: [] },
    });
    for (const row of rows) {
      table.push([
        row.instanceId,
        row.lifecycleState,
        waitingCell(row),
        row.reason ? `${row.probe}: ${row.reason}` : row.probe,
        row.retention
          ? row.retention.keptUntil
          : row.hooks.length
            ? row.hooks.map(deadlineCell).join('\n')
            : 'no hook for this transition',
      ]);
    }
    lines.push(table.toString());
  }
  const waiting = rows.filter((r) => r.hold === 'wait').length;
  const retained = rows.length - waiting;
  lines.push(
    rows.length === 0
      ? `${group} (${region}): no instance is held by a lifecycle hook`
      : `${group} (${region}): ${waiting} waiting, ${retained} retained`,
  );
  lines.push(
    hooks.length ? `hooks: ${hooks.map(hookLine).join('; ')}` : 'hooks: none on this group',
  );
  return `${lines.join('\n')}\n`;
}
