/**
 * The simulation's timeline: one entry per thing that happened, in virtual-time order. The
 * sandbox prints it (or redraws a table from it), a failing property prints the tail of it
 * next to the seed, and tests read it to say what happened without reaching into the model.
 */

export type JournalKind =
  | 'launch'
  | 'in-service'
  | 'desired'
  | 'scale-in'
  | 'could-not-scale'
  | 'unhealthy'
  | 'terminate-api'
  | 'terminating'
  | 'heartbeat'
  | 'action-ended'
  | 'terminated'
  | 'retained'
  | 'protection'
  | 'stops-answering'
  | 'work'
  | 'ecs'
  | 'ssm'
  | 'scan'
  | 'gate-step'
  | 'gate-retry'
  | 'dead-letter'
  | 'notice'
  | 'fault'
  | 'setting';

export interface JournalEntry {
  /** Virtual ms since the epoch. */
  at: number;
  kind: JournalKind;
  group?: string;
  instanceId?: string;
  /** One line a person can read. */
  text: string;
  /** Structured facts (for tests and the display). */
  data?: Record<string, unknown>;
}

export class Journal {
  readonly entries: JournalEntry[] = [];
  private listeners: Array<(e: JournalEntry) => void> = [];

  constructor(private readonly clock: () => number) {}

  add(
    kind: JournalKind,
    text: string,
    extra: Omit<JournalEntry, 'at' | 'kind' | 'text'> = {},
  ): JournalEntry {
    const entry: JournalEntry = { at: this.clock(), kind, text, ...extra };
    this.entries.push(entry);
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  subscribe(listener: (e: JournalEntry) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  of(kind: JournalKind, instanceId?: string): JournalEntry[] {
    return this.entries.filter(
      (e) => e.kind === kind && (instanceId === undefined || e.instanceId === instanceId),
    );
  }
}

/** `hh:mm:ss` of virtual time since `startMs` — how the sandbox and failure traces show time. */
export function formatElapsed(atMs: number, startMs: number): string {
  const total = Math.max(0, Math.round((atMs - startMs) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
