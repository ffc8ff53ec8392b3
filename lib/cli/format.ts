/** How the CLI shows a scan: a table for people, JSON for scripts. */
import Table from 'cli-table3';
import type { GroupReport } from '../protect/scan.js';

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
