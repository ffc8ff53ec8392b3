/**
 * Row 4: the gate in the fleet simulator (sim/), with the numbers serverless.yml deploys
 * (recheckSeconds, the hook's HeartbeatTimeout and DefaultResult, the recheck queue's
 * VisibilityTimeout and maxReceiveCount).
 *
 * A group of busy instances is scaled in to zero at once; every instance goes to
 * Terminating:Wait and the real gate (createGateHandler → gateStep) holds it until its work
 * ends — 5 to 60 minutes, seeded. Measured on the virtual clock:
 *
 * - release latency: from the moment the worker turns idle to CompleteLifecycleAction
 *   (CONTINUE), against the recheck interval;
 * - gate invocations per hour of hold (the EventBridge invocation plus one per recheck
 *   message), against one per interval — 3,600 / recheckSeconds.
 */
import type { LifecycleResult } from '../lib/ports.js';
import { STEP_SLACK_MS, recheckIntervalMs } from '../sim/invariants.js';
import { Simulation } from '../sim/simulation.js';
import { WorkSchedule } from '../sim/work.js';
import { readServerlessYml } from './bundle.js';
import { median, percentile, type Row } from './report.js';

const MIN = 60_000;
/** Held instances: enough for a distribution, a second or two of real time. */
const INSTANCES = 200;
const SEED = 20_251_122;

interface Deployed {
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  recheckSeconds: number;
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
}

async function deployed(): Promise<Deployed> {
  const doc = await readServerlessYml<{
    params: { default: Record<string, string> };
    resources: Array<{ Resources?: Record<string, { Properties?: Record<string, unknown> }> }>;
  }>();
  const params = doc.params.default;
  const queue = doc.resources.map((r) => r.Resources?.RecheckQueue).find(Boolean)?.Properties as
    { VisibilityTimeout: number; RedrivePolicy: { maxReceiveCount: number } } | undefined;
  if (!queue) throw new Error('serverless.yml has no RecheckQueue');
  return {
    heartbeatTimeoutSeconds: Number(params.heartbeatTimeout),
    defaultResult: params.hookDefaultResult === 'ABANDON' ? 'ABANDON' : 'CONTINUE',
    recheckSeconds: Number(params.recheckSeconds),
    visibilityTimeoutSeconds: Number(queue.VisibilityTimeout),
    maxReceiveCount: Number(queue.RedrivePolicy.maxReceiveCount),
  };
}

export async function benchGateHold(): Promise<Row[]> {
  const d = await deployed();
  const sim = new Simulation({
    seed: SEED,
    groups: [
      {
        name: 'workers',
        desired: INSTANCES,
        hook: {
          name: 'themis',
          heartbeatTimeoutSeconds: d.heartbeatTimeoutSeconds,
          defaultResult: d.defaultResult,
        },
      },
    ],
    // Busy from launch for 5–60 minutes, to the millisecond.
    work: ({ launchedAt, random }) =>
      new WorkSchedule([
        { startMs: launchedAt, endMs: launchedAt + random.int(5 * MIN, 60 * MIN) },
      ]),
    protect: false,
    gate: {
      env: { THEMIS_RECHECK_SECONDS: String(d.recheckSeconds) },
      visibilityTimeoutSeconds: d.visibilityTimeoutSeconds,
      maxReceiveCount: d.maxReceiveCount,
    },
  });
  const wallStarted = performance.now();
  sim.fleet.setDesiredCapacity('workers', 0);
  const settled = await sim.runUntilSettled(3 * 3600_000);
  const wallMs = performance.now() - wallStarted;
  if (!settled) throw new Error('gate benchmark: the simulation did not settle within 3 hours');

  const latencies: number[] = [];
  let holdMs = 0;
  const results = new Map<string, number>();
  for (const action of sim.fleet.actions) {
    const ended = action.ended;
    const key = ended ? `${ended.by} ${ended.result}` : 'not ended';
    results.set(key, (results.get(key) ?? 0) + 1);
    if (!ended) continue;
    holdMs += ended.at - action.startedAt;
    const idleSince = sim.fleet.instance(action.instanceId)?.work.idleSince(ended.at);
    if (ended.by === 'completed' && idleSince !== undefined) {
      latencies.push(ended.at - Math.max(idleSince, action.startedAt));
    }
  }
  const busyTerminations = sim.fleet.terminations.filter((t) => t.busy).length;
  const invocations = sim.steps.length;
  const holdHours = holdMs / 3600_000;
  const perHour = invocations / holdHours;
  const intervalMs = recheckIntervalMs(d.recheckSeconds, d.heartbeatTimeoutSeconds);
  const ideal = 3600_000 / intervalMs;
  const heartbeats = sim.calls.count('RecordLifecycleActionHeartbeat');
  const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
  const max = Math.max(...latencies);

  const section = `Gate in the simulator: ${INSTANCES} busy instances scaled in, recheckSeconds ${d.recheckSeconds}, HeartbeatTimeout ${d.heartbeatTimeoutSeconds} s`;
  const outcomes = [...results].map(([k, n]) => `${n} ${k}`).join(', ');
  const common = `${latencies.length} of ${sim.fleet.actions.length} actions completed after the worker went idle (${outcomes}); ${busyTerminations} terminated while busy; median ${(median(latencies) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s; ${Math.round(wallMs)} ms of real time for ${holdHours.toFixed(0)} h of holds.`;
  return [
    {
      section,
      name: 'release latency (idle → CONTINUE), mean',
      figure: { value: mean / 1000, unit: 's' },
      baseline: { value: intervalMs / 1000, unit: 's', label: 'recheck interval' },
      ratio: { value: mean / intervalMs, label: '× interval' },
      goal: {
        text: `≤ ½ interval + ${STEP_SLACK_MS / 1000} s`,
        pass: mean <= intervalMs / 2 + STEP_SLACK_MS && busyTerminations === 0,
      },
      note: common,
    },
    {
      section,
      name: 'release latency (idle → CONTINUE), max',
      figure: { value: max / 1000, unit: 's' },
      baseline: { value: intervalMs / 1000, unit: 's', label: 'recheck interval' },
      ratio: { value: max / intervalMs, label: '× interval' },
      goal: {
        text: `≤ interval + ${STEP_SLACK_MS / 1000} s`,
        pass: max <= intervalMs + STEP_SLACK_MS && busyTerminations === 0,
      },
    },
    {
      section,
      name: 'gate invocations per hour of hold',
      figure: { value: perHour, unit: 'per h' },
      baseline: { value: ideal, unit: 'per h', label: '3600 / interval' },
      ratio: { value: perHour / ideal, label: '× ideal' },
      // Rechecks are shortened by up to ~10 % of jitter (lib/gate/decide.ts).
      goal: { text: '≤ 1.1 × ideal', pass: perHour <= 1.1 * ideal },
      note: `${invocations} invocations (one per lifecycle event, one per recheck message) and ${heartbeats} heartbeats (${(heartbeats / holdHours).toFixed(1)} per hour) over ${holdHours.toFixed(1)} hours of holds.`,
    },
  ];
}
