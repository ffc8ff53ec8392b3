/**
 * How the sandbox shows a simulation as it runs: a live table redrawn in place when stdout
 * is a terminal, a line-based timeline otherwise (CI logs, pipes), and the summary at the
 * end. Reads only the simulated world and its journal.
 */
import Table from 'cli-table3';
import { formatElapsed, type JournalEntry } from './journal.js';
import { ecsWorkWords } from './ecs-fleet.js';
import type { Simulation } from './simulation.js';

/** A few words for a gate decision kind. */
function decisionWords(decision: string, heartbeats: number): string {
  switch (decision) {
    case 'hold':
      return `holding (${heartbeats} heartbeat${heartbeats === 1 ? '' : 's'})`;
    case 'release':
      return 'released';
    case 'release-unreachable':
      return 'released (unreachable)';
    case 'run-ssm':
    case 'wait-ssm':
      return 'running pre-termination command';
    default:
      return decision;
  }
}

/**
 * Turns journal entries into timeline lines, leaving out the routine: heartbeats, protect
 * scans that changed nothing, and a gate step that decided what the previous one did.
 */
export function createTimeline(startMs: number): (e: JournalEntry) => string | undefined {
  const lastDecision = new Map<string, string>();
  return (e) => {
    if (e.kind === 'launch' && e.at === startMs) return undefined;
    if (['heartbeat', 'protection', 'work', 'gate-retry', 'desired'].includes(e.kind))
      return undefined;
    if (e.kind === 'scan' && !/protected|unprotected|failed/.test(e.text)) return undefined;
    if (e.kind === 'action-ended' && e.data?.by === 'completed') return undefined;
    if (e.kind === 'gate-step' && e.instanceId) {
      const key = `${String(e.data?.decision)} ${String(e.data?.verdict)}`;
      if (lastDecision.get(e.instanceId) === key) return undefined;
      lastDecision.set(e.instanceId, key);
    }
    return `[${formatElapsed(e.at, startMs)}] ${e.kind.padEnd(15)} ${e.text}`;
  };
}

/** What the gate last did about each instance, in a few words. */
export function gateColumn(sim: Simulation): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of sim.journal.entries) {
    if (!e.instanceId) continue;
    if (e.kind === 'gate-step') {
      const decision = String(e.data?.decision ?? '');
      const verdict = String(e.data?.verdict ?? 'ok');
      const heartbeats = sim.fleet.instance(e.instanceId)?.action?.heartbeats ?? 0;
      if (verdict !== 'ok') out.set(e.instanceId, `step failed (${verdict}), retrying`);
      else if (decision && !decision.endsWith('(gone)')) {
        out.set(e.instanceId, decisionWords(decision, heartbeats));
      }
    } else if (e.kind === 'action-ended' && e.data?.by !== 'completed') {
      out.set(e.instanceId, e.text.replace(`${e.instanceId}: `, ''));
    }
  }
  return out;
}

function workColumn(sim: Simulation, instanceId: string): string {
  const inst = sim.fleet.instance(instanceId)!;
  if (inst.lifecycleState === 'Terminated' || inst.lifecycleState === 'Terminating:Proceed')
    return '';
  if (!inst.answering) return 'no answer';
  const ecs = sim.ecs.modelOf(inst.group);
  if (ecs) return ecsWorkWords(ecs, instanceId);
  const unit = inst.work.unitAt(sim.now());
  if (!unit) return 'idle';
  const left = Math.max(1, Math.ceil((unit.endMs - sim.now()) / 60_000));
  return `BUSY ${left} min left`;
}

/** The live table: one row per instance the group ever had. */
export function renderTable(sim: Simulation, group: string, title: string): string {
  const gate = gateColumn(sim);
  const terminated = new Map(sim.fleet.terminations.map((t) => [t.instanceId, t]));
  const table = new Table({
    head: ['instance', 'address', 'work', 'protected', 'lifecycle', 'gate'],
    style: { head: [], border: [], compact: true },
  });
  for (const inst of sim.fleet.instances(group)) {
    const t = terminated.get(inst.id);
    const lifecycle = t
      ? `terminated ${formatElapsed(t.at, sim.scheduler.startMs)}${t.busy ? ' BUSY!' : ''}`
      : inst.lifecycleState;
    table.push([
      inst.id,
      inst.address,
      workColumn(sim, inst.id),
      t ? '' : inst.protectedFromScaleIn ? 'yes' : 'no',
      lifecycle,
      gate.get(inst.id) ?? '',
    ]);
  }
  return `${title}\n${table.toString()}\n`;
}

export interface SandboxNotice {
  at: string;
  subject: string;
  /** The e-mail body as SNS sends it (human text, then the JSON facts). */
  message: string;
  delivered: boolean;
}

/** The human half of a notice body (before the JSON facts). */
export function humanPart(message: string): string {
  const cut = message.indexOf('\n\nFacts:');
  return (cut >= 0 ? message.slice(0, cut) : message).trim();
}
