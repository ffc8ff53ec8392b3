/**
 * One benchmark figure per row, always next to its baseline measured in the same run, the
 * ratio between them (in the direction that reads naturally: "× timeout", "× faster"), and
 * the goal it is judged against.
 */
import Table from 'cli-table3';

export interface Figure {
  value: number;
  unit: Unit;
}

export type Unit = 'ms' | 's' | 'MB' | 'KB' | 'calls' | 'per h' | 'per s' | '';

export interface Row {
  section: string;
  name: string;
  figure: Figure;
  baseline: Figure & { label: string };
  /** The ratio, and what it means ('× timeout', '× faster', '× bound', …). */
  ratio: { value: number; label: string };
  /** Absent when the issue sets no goal for the row. */
  goal?: { text: string; pass: boolean };
  note?: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function formatFigure({ value, unit }: Figure): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ms':
      return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
    case 's':
      return `${value.toFixed(1)} s`;
    case 'MB':
      return `${value.toFixed(1)} MB`;
    case 'KB':
      return value >= 1024 ? `${(value / 1024).toFixed(2)} MB` : `${Math.round(value)} KB`;
    case 'per h':
      return `${value.toFixed(1)} /h`;
    case 'per s':
      return `${value.toFixed(1)} /s`;
    case 'calls':
      return `${value} call${value === 1 ? '' : 's'}`;
    default:
      return String(Number.isInteger(value) ? value : value.toFixed(2));
  }
}

export function formatRatio(ratio: Row['ratio']): string {
  if (!Number.isFinite(ratio.value)) return `— ${ratio.label}`;
  const digits = ratio.value >= 100 ? 0 : ratio.value >= 10 ? 1 : 2;
  return `${ratio.value.toFixed(digits)} ${ratio.label}`;
}

export function renderTable(rows: readonly Row[]): string {
  const table = new Table({
    head: ['', 'figure', 'baseline (same run)', 'ratio', 'goal', ''],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [46, 11, 28, 15, 17, 6],
  });
  let section = '';
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section;
      table.push([{ colSpan: 6, content: section }]);
    }
    table.push([
      row.name,
      formatFigure(row.figure),
      `${formatFigure(row.baseline)} ${row.baseline.label}`,
      formatRatio(row.ratio),
      row.goal?.text ?? '—',
      row.goal ? (row.goal.pass ? 'pass' : 'FAIL') : '',
    ]);
  }
  return table.toString();
}

/** The notes under the table, grouped by section. */
export function renderNotes(rows: readonly Row[]): string {
  const out: string[] = [];
  let section = '';
  for (const row of rows) {
    if (!row.note) continue;
    if (row.section !== section) {
      section = row.section;
      out.push(section);
    }
    out.push(`  - ${row.name}: ${row.note}`);
  }
  return out.join('\n');
}
