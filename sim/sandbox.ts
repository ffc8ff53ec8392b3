/**
 * `themis sandbox` (`npm run sandbox`): the one-command demo. Nothing in the cloud: a
 * simulated Auto Scaling group of 12 instances, each with a real HTTP worker on its own
 * loopback address whose work units start and finish on the virtual clock; the real protect
 * scan every minute and the real gate on every lifecycle event, probing those workers over
 * HTTP with the real prober (loopback only). Virtual time runs 60× faster than the wall
 * clock, so ~42 virtual minutes take well under a minute.
 *
 * The story (virtual time):
 *   08:10  instance 1 starts a 9-minute job — just after the 08:00 scan saw it idle
 *   08:30  scale-in by 4: instance 1 is unprotected and the oldest, so it is picked while
 *          busy — the gate holds it until its job ends (~17:10), the idle ones go at once
 *   20:00  instance 4, busy and protected, fails a health check: the gate holds it too
 *   24:00  instance 9 stops answering; 25:00 an operator terminates it: released as
 *          unreachable after three unknown answers
 *   31:30  scale-in by 6 while most are busy: "could not scale" — they go one by one as
 *          their work ends and protect removes their protection
 * Then the summary: busy instances terminated (must be 0), holds, heartbeats, API calls,
 * and every notification as the operator would read it. Exit status 0 only if no busy
 * instance was terminated and every invariant held.
 */
import { pathToFileURL } from 'node:url';
import { createTimeline, humanPart, renderTable, type SandboxNotice } from './display.js';
import { checkInvariants, type Violation } from './invariants.js';
import { formatElapsed } from './journal.js';
import type { LoopbackWorkers } from './loopback-workers.js';
import {
  attachLoopbackWorkers,
  preloadOnDemandSdks,
  Simulation,
  type GateOptions,
} from './simulation.js';
import { WorkSchedule, type WorkUnit } from './work.js';
import { deployed } from './deployed.js';
import { ecsStory, s3ScriptStory } from './sandbox-stories.js';
import type { PublishedNotice } from './services.js';

export interface SandboxOptions {
  /** Seed of the replacements' work and of the delivery latencies (default 7). */
  seed?: number;
  /** Virtual seconds per wall second (default 60: a virtual minute per second). */
  speed?: number;
  /** No pacing at all: as fast as the machine goes (tests). */
  fast?: boolean;
  /** Where to write (default: stdout). */
  out?: (text: string) => void;
  /** Redraw a live table (default: when stdout is a terminal); otherwise a line per event. */
  live?: boolean;
  /** Which story (default 'http'; sim/sandbox-stories.ts has the others). */
  story?: SandboxStoryName;
  /** Break the gate on purpose (tests: a broken gate must fail the run). ECS and S3 stories. */
  wrapGate?: GateOptions['wrapDeps'];
}

export type SandboxStoryName = 'http' | 'ecs' | 's3-script';

/** One beat of a story: something that happens to the world at a virtual minute. */
export interface StoryBeat {
  minutes: number;
  what: string;
  run: () => void;
}

/** A sandbox story: the world, what happens to it, and how it is told. */
export interface SandboxStory {
  name: SandboxStoryName;
  sim: Simulation;
  group: string;
  beats: StoryBeat[];
  endMinutes: number;
  /** Real HTTP workers on loopback answer the probes (stories in HTTP mode). */
  loopbackWorkers: boolean;
  /** The lines under the title: what the world is. */
  intro: (workers: LoopbackWorkers | undefined) => string[];
  /** Started with protect (the ECS story's scale function). */
  start?: () => void;
  /** The story's own checks, told in the summary; not ok fails the run. */
  verdict?: () => { lines: string[]; ok: boolean };
}

export interface SandboxSummary {
  group: string;
  instances: number;
  virtualMinutes: number;
  wallSeconds: number;
  /** Instance ids terminated while their worker was busy. Must be empty. */
  terminatedWhileBusy: string[];
  terminations: number;
  /** Lifecycle actions that began while the instance was busy (held by the gate). */
  holds: number;
  heartbeats: number;
  couldNotScale: number;
  /** AWS calls by API name. */
  apiCalls: Record<string, number>;
  notices: SandboxNotice[];
  violations: Violation[];
  /** How the loopback workers bound (absent when the story has none: ECS mode). */
  workerMode?: LoopbackWorkers['mode'];
  probeRequests: number;
  story: SandboxStoryName;
  /** The story's own checks (sandbox-stories.ts), as summary lines. */
  storyLines: string[];
  exitCode: 0 | 1;
}

export const SANDBOX_GROUP = 'render-farm';
const MIN = 60_000;
const INSTANCES = 12;
const END_MINUTES = 42;

/** Work units per instance (launch order), in minutes from the start. */
const STORY_WORK: Record<number, Array<[number, number]>> = {
  1: [[8 + 10 / 60, 17 + 10 / 60]],
  2: [
    [0, 6],
    [12, 22],
  ],
  3: [[2, 9]],
  4: [
    [0, 14],
    [17, 27],
  ],
  5: [
    [1, 7],
    [18, 29],
  ],
  6: [
    [3, 12],
    [28, 38],
  ],
  7: [],
  8: [
    [5, 11],
    [30, 40],
  ],
  9: [[0, 30]],
  10: [
    [9, 16],
    [30, 37],
  ],
  11: [[4, 8]],
  12: [
    [10, 20],
    [31, 39],
  ],
};

export async function runSandbox(options: SandboxOptions = {}): Promise<SandboxSummary> {
  const name = options.story ?? 'http';
  const story =
    name === 'ecs'
      ? await ecsStory(options)
      : name === 's3-script'
        ? await s3ScriptStory(options)
        : await httpStory(options);
  return tellStory(story, options);
}

/** The HTTP story: 12 loopback workers, the scale-ins, a health check, a dead instance. */
async function httpStory(options: SandboxOptions): Promise<SandboxStory> {
  let launched = 0;
  // The stack as deployed: its hook, timeouts, queue and gate settings.
  const stack = await deployed();
  const sim = new Simulation({
    seed: options.seed ?? 7,
    deployed: stack,
    groups: [
      {
        name: SANDBOX_GROUP,
        desired: INSTANCES,
        hook: stack.hook,
      },
    ],
    work: ({ launchedAt, random }) => {
      const n = ++launched;
      const script = STORY_WORK[n];
      const units: WorkUnit[] = script
        ? script.map(([a, b]) => ({ startMs: launchedAt + a * MIN, endMs: launchedAt + b * MIN }))
        : // Replacements: one job a little after they come up.
          [
            {
              startMs: launchedAt + random.int(2, 4) * MIN,
              endMs: launchedAt + random.int(6, 9) * MIN,
            },
          ];
      return new WorkSchedule(units);
    },
    gate: {
      env: {
        THEMIS_RECHECK_SECONDS: '30',
        THEMIS_UNKNOWN_LIMIT: '3',
        // Wall-clock milliseconds: a worker answers in one or two.
        THEMIS_PROBE_TIMEOUT_MS: '1000',
      },
    },
    protect: { env: { THEMIS_PROBE_TIMEOUT_MS: '1000' } },
  });
  const nth = (n: number) => sim.fleet.instances(SANDBOX_GROUP).find((i) => i.seq === n)!.id;
  return {
    name: 'http',
    sim,
    group: SANDBOX_GROUP,
    endMinutes: END_MINUTES,
    loopbackWorkers: true,
    beats: [
      { minutes: 8.5, what: 'scale-in by 4', run: () => sim.fleet.scaleIn(SANDBOX_GROUP, 4) },
      {
        minutes: 20,
        what: 'instance 4 (busy, protected) fails a health check',
        run: () => sim.fleet.markUnhealthy(nth(4)),
      },
      {
        minutes: 24,
        what: 'instance 9 stops answering',
        run: () => sim.fleet.stopAnswering(nth(9)),
      },
      {
        minutes: 25,
        what: 'an operator terminates instance 9',
        run: () => sim.fleet.terminateInstance(nth(9), false),
      },
      { minutes: 31.5, what: 'scale-in by 6', run: () => sim.fleet.scaleIn(SANDBOX_GROUP, 6) },
    ],
    intro: (workers) => {
      const addresses = sim.fleet.instances(SANDBOX_GROUP).map((i) => i.address);
      return [
        `A simulated Auto Scaling group "${SANDBOX_GROUP}" of ${INSTANCES} instances. Each runs a real HTTP worker`,
        workers?.mode === 'shared-port'
          ? `on its own loopback address (${addresses[0]} … ${addresses.at(-1)}, port ${workers.port}) answering BUSY or IDLE.`
          : `on 127.0.0.1 (this system cannot bind 127.0.x.y; one port per worker) answering BUSY or IDLE.`,
        `protect scans every minute and the gate holds terminating instances, both the real themis code.`,
      ];
    },
  };
}

/** Run a story on the virtual clock, paced, told as a table or a timeline, then summarised. */
async function tellStory(story: SandboxStory, options: SandboxOptions): Promise<SandboxSummary> {
  const out = options.out ?? ((s: string) => void process.stdout.write(s));
  const live = options.live ?? process.stdout.isTTY === true;
  const speed = options.speed ?? 60;
  const { sim, group, beats, endMinutes } = story;
  const start = sim.scheduler.startMs;
  for (const beat of beats) sim.scheduler.at(start + beat.minutes * MIN, beat.what, beat.run);
  const next = () => {
    const beat = beats.find((b) => start + b.minutes * MIN > sim.now());
    return beat ? `next: ${formatElapsed(start + beat.minutes * MIN, start)} ${beat.what}` : '';
  };

  const workers = story.loopbackWorkers ? await attachLoopbackWorkers(sim) : undefined;
  const wallStart = performance.now();
  try {
    out(
      [
        `themis sandbox — nothing here touches AWS.`,
        ...story.intro(workers),
        options.fast
          ? 'Virtual time runs as fast as it can.'
          : `Virtual time runs ${speed}× faster than the wall clock (${endMinutes} virtual minutes).`,
        '',
        '',
      ].join('\n'),
    );

    const title = () =>
      `virtual ${formatElapsed(sim.now(), start)} · desired ${sim.fleet.desiredCapacity(group)} · ${sim.calls.count()} AWS calls · ${sim.published.length} notices`;
    let unsubscribe = () => {};
    const timeline = createTimeline(start);
    const recent: string[] = [];
    if (live) {
      unsubscribe = sim.journal.subscribe((e) => {
        const line = timeline(e);
        if (line) recent.push(line);
        if (recent.length > 10) recent.shift();
      });
      const draw = () => {
        out(
          `\x1b[H\x1b[2J${renderTable(sim, group, `themis sandbox · ${title()}`)}${next()}\n\n${recent.join('\n')}\n`,
        );
      };
      sim.scheduler.every(10_000, 'draw', draw, start);
    } else {
      unsubscribe = sim.journal.subscribe((e) => {
        const line = timeline(e);
        if (line) out(`${line}\n`);
      });
    }

    const pace = options.fast
      ? undefined
      : async (virtualMs: number) => {
          const due = wallStart + (virtualMs - start) / speed;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        };
    await preloadOnDemandSdks();
    sim.startProtect();
    story.start?.();
    await sim.scheduler.runUntil(start + (endMinutes - 2) * MIN, { ...(pace ? { pace } : {}) });
    // Let every hold end; a couple of virtual minutes at most.
    await sim.scheduler.runUntil(start + endMinutes * MIN, {
      ...(pace ? { pace } : {}),
      stop: () => sim.settled() && sim.now() >= start + (endMinutes - 1) * MIN,
    });
    sim.stopProtect();
    unsubscribe();
    if (live) out(`\x1b[H\x1b[2J${renderTable(sim, group, `themis sandbox · ${title()}`)}\n`);
    else out(`\n${renderTable(sim, group, `At the end: ${title()}`)}`);

    const summary = summarise(story, workers, (performance.now() - wallStart) / 1000);
    out(formatSummary(summary));
    return summary;
  } finally {
    await workers?.close();
  }
}

function summarise(
  story: SandboxStory,
  workers: LoopbackWorkers | undefined,
  wallSeconds: number,
): SandboxSummary {
  const { sim, group } = story;
  const check = checkInvariants(sim);
  const verdict = story.verdict?.() ?? { lines: [], ok: true };
  const terminatedWhileBusy = sim.fleet.terminations.filter((t) => t.busy).map((t) => t.instanceId);
  const apiCalls = sim.calls.snapshot().calls as Record<string, number>;
  const violations = check.violations;
  return {
    group,
    instances: sim.fleet.instances(group).length,
    virtualMinutes: Math.round(sim.scheduler.elapsedMs() / MIN),
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    terminatedWhileBusy,
    terminations: sim.fleet.terminations.length,
    holds: sim.fleet.actions.filter((a) => a.busyAtStart).length,
    heartbeats: sim.fleet.actions.reduce((n, a) => n + a.heartbeats, 0),
    couldNotScale: sim.fleet.couldNotScale.length,
    apiCalls,
    notices: sim.published.map((p: PublishedNotice) => ({
      at: formatElapsed(p.at, sim.scheduler.startMs),
      subject: p.notice.subject,
      message: p.notice.message,
      delivered: p.delivered,
    })),
    violations,
    ...(workers ? { workerMode: workers.mode } : {}),
    probeRequests: workers?.requests() ?? 0,
    story: story.name,
    storyLines: verdict.lines,
    exitCode: terminatedWhileBusy.length === 0 && violations.length === 0 && verdict.ok ? 0 : 1,
  };
}

export function formatSummary(s: SandboxSummary): string {
  const calls = Object.entries(s.apiCalls)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const total = Object.values(s.apiCalls).reduce((a, b) => a + b, 0);
  const lines = [
    '',
    `Summary — ${s.virtualMinutes} virtual minutes in ${s.wallSeconds} s`,
    `  instances terminated while busy: ${s.terminatedWhileBusy.length}${s.terminatedWhileBusy.length ? ` (${s.terminatedWhileBusy.join(', ')})` : ' — none, as it must be'}`,
    `  terminations: ${s.terminations}; holds (busy when termination began): ${s.holds}; heartbeats: ${s.heartbeats}`,
    `  could not scale (every candidate protected): ${s.couldNotScale} time(s)`,
    ...(s.workerMode ? [`  probes answered by the loopback workers: ${s.probeRequests}`] : []),
    ...s.storyLines.map((l) => `  ${l}`),
    `  AWS API calls (simulated): ${total} — ${calls}`,
    `  invariants: ${s.violations.length === 0 ? 'all held' : `${s.violations.length} broken`}`,
    ...s.violations.map((v) => `    - [${v.kind}] ${v.message}`),
    '',
    `Notifications (${s.notices.length}), as the operator reads them (each e-mail ends with the JSON facts):`,
  ];
  for (const n of s.notices) {
    lines.push('', `  [${n.at}] Subject: ${n.subject}${n.delivered ? '' : '  (Publish failed)'}`);
    for (const l of humanPart(n.message).split('\n')) lines.push(`    ${l}`);
  }
  lines.push(
    '',
    s.exitCode === 0 ? 'OK: no busy instance was terminated.' : 'FAILED: see above.',
    '',
  );
  return lines.join('\n');
}

// `npx tsx sim/sandbox.ts [--fast] [--ecs | --s3-script]`: runnable on its own (the CLI calls runSandbox).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const summary = await runSandbox({
    fast: process.argv.includes('--fast'),
    ...(process.argv.includes('--ecs') ? { story: 'ecs' as const } : {}),
    ...(process.argv.includes('--s3-script') ? { story: 's3-script' as const } : {}),
  });
  process.exitCode = summary.exitCode;
}
