/**
 * The sandbox's other stories (sim/sandbox.ts tells them; `themis sandbox --ecs`,
 * `themis sandbox --s3-script`).
 *
 * ECS (`--ecs`): an ECS cluster "jobs" on a simulated Auto Scaling group "ecs-cluster" of 5
 * instances, scaling in around a long task. The real scale function (lib/scale, the
 * ecs-autoscale port) runs every minute; protect and the gate run in ECS mode (the group's
 * `themis:ecs-cluster` tag), all through the real ECS and Auto Scaling adapters against the
 * simulator (sim/ecs-client.ts, sim/aws.ts). ECS places tasks first-fit: the web service's
 * two tasks on instance 1, a daemon on every instance.
 *
 *   00:01  jobs start: a 24-minute "nightly-report" on instance 3, 6 and 9 minutes on 4 and 5
 *   00:02  the scale function starts: one instance per minute, the emptiest one whose tasks
 *          fit on the others with the buffers left, is set DRAINING and terminated with a
 *          decrement — the gate holds each in Terminating:Wait until its tasks have STOPPED:
 *          an idle one goes at once, web tasks move elsewhere, jobs run to their end
 *   ~25    the report ends: the gate releases instance 3, naming the task it waited for
 *
 * The story's own check: no task was killed by a termination (every non-daemon task stopped
 * by itself, by draining or by the service, never with its instance).
 */
import { EcsAdapter } from '../lib/aws/ecs.js';
import { AutoScalingCapacity } from '../lib/aws/group-capacity.js';
import { silentLog } from '../lib/log.js';
import { parseClusters } from '../lib/scale/config.js';
import { createScaleHandler } from '../lib/scale/handler.js';
import type { ClusterReport } from '../lib/scale/run.js';
import { createFakeClients } from './aws.js';
import { deployed } from './deployed.js';
import { ECS_CLUSTER_TAG } from './ecs-fleet.js';
import { formatElapsed } from './journal.js';
import { remoteScriptRunner, RUN_REMOTE_SCRIPT, SimS3 } from './remote-script.js';
import type { DocumentRunner } from './services.js';
import { WorkSchedule } from './work.js';
import type { SandboxOptions, SandboxStory } from './sandbox.js';
import { freshRetryState } from './sdk.js';
import { Simulation } from './simulation.js';

const MIN = 60_000;
export const ECS_SANDBOX_GROUP = 'ecs-cluster';
export const ECS_SANDBOX_CLUSTER = 'jobs';
const ECS_INSTANCES = 5;
const ECS_END_MINUTES = 36;

/** clusters.yml of the story (the scale function's own parser reads it). */
export const ECS_SANDBOX_CLUSTERS_YML = `clusters:
  ${ECS_SANDBOX_CLUSTER}:
    autoscale_group: ${ECS_SANDBOX_GROUP}
    cpu_buffer: 512
    mem_buffer: 1024
    services:
      web: { min: 2, max: 4 }
`;

export async function ecsStory(options: SandboxOptions): Promise<SandboxStory> {
  const stack = await deployed();
  const sim = new Simulation({
    seed: options.seed ?? 7,
    deployed: stack,
    groups: [
      {
        name: ECS_SANDBOX_GROUP,
        desired: ECS_INSTANCES,
        hook: stack.hook,
        minSize: 2,
        maxSize: 8,
      },
    ],
    ecs: {
      clusters: [
        {
          group: ECS_SANDBOX_GROUP,
          cluster: ECS_SANDBOX_CLUSTER,
          daemon: true,
          service: 2,
          placement: 'first',
          startMs: [5_000, 20_000],
          stopMs: [5_000, 30_000],
        },
      ],
    },
    gate: {
      env: { THEMIS_RECHECK_SECONDS: '30' },
      ...(options.wrapGate ? { wrapDeps: options.wrapGate } : {}),
    },
  });
  const model = sim.ecs.modelOf(ECS_SANDBOX_GROUP)!;
  const nth = (n: number) => sim.fleet.instances(ECS_SANDBOX_GROUP).find((i) => i.seq === n)!.id;

  // The real scale function, its clients answering from the simulated world.
  const owner = { alive: () => true, tookEffect: () => false };
  const env = {
    scheduler: sim.scheduler,
    account: sim.account,
    owner,
    retry: freshRetryState(),
    random: sim.random.fork('scale-sdk'),
  };
  const scale = createScaleHandler({
    config: { clusters: parseClusters(ECS_SANDBOX_CLUSTERS_YML, 'clusters.yml'), dryRun: false },
    ecs: new EcsAdapter(sim.ecs.client(env)),
    groups: new AutoScalingCapacity(createFakeClients(sim.model, env).autoScaling),
    metrics: { read: () => Promise.reject(new Error('no service metric in this story')) },
    log: silentLog,
    timers: sim.scheduler.timers(),
  });
  const reports: ClusterReport[] = [];
  const runScale = () => {
    void scale({}).then(
      (r) => {
        for (const report of r.clusters) {
          reports.push(report);
          const action = report.action;
          if (action && action.kind !== 'none') {
            sim.journal.add(
              'scale-in',
              `scale function: ${action.kind === 'scale-in' ? `drain and terminate ${action.instanceId}` : `desired ${action.from} → ${action.to}`} (${action.reason})`,
              {
                group: ECS_SANDBOX_GROUP,
                ...(action.kind === 'scale-in' ? { instanceId: action.instanceId } : {}),
              },
            );
          }
        }
      },
      (err: unknown) => sim.scheduler.failures.push(err),
    );
  };

  const jobs: Array<{ instance: number; minutes: number; name: string }> = [
    { instance: 3, minutes: 24, name: 'nightly-report' },
    { instance: 4, minutes: 6, name: 'job' },
    { instance: 5, minutes: 9, name: 'job' },
  ];
  const jobArns = new Map<string, string>();
  return {
    name: 'ecs',
    sim,
    group: ECS_SANDBOX_GROUP,
    endMinutes: ECS_END_MINUTES,
    loopbackWorkers: false,
    beats: [
      {
        minutes: 1,
        what: 'jobs start: a 24-minute report on instance 3, shorter ones on 4 and 5',
        run: () => {
          for (const j of jobs) {
            const arn = model.runTask('job', j.minutes * MIN, nth(j.instance));
            if (arn) jobArns.set(arn, `${j.name} on instance ${j.instance}`);
          }
        },
      },
      {
        minutes: 2,
        what: 'the scale function starts (every minute)',
        run: () => {
          runScale();
          sim.scheduler.every(MIN, 'scale', runScale, sim.now() + MIN);
        },
      },
    ],
    intro: () => [
      `An ECS cluster "${ECS_SANDBOX_CLUSTER}" on a simulated Auto Scaling group "${ECS_SANDBOX_GROUP}" of ${ECS_INSTANCES} instances`,
      `(tag ${ECS_CLUSTER_TAG}=${ECS_SANDBOX_CLUSTER}): a daemon on every instance, a web service of 2 tasks, jobs.`,
      `The scale function (ecs-autoscale) drains and terminates one instance a minute; protect and the gate`,
      `read busy from ECS (a task that is not a daemon's and has not STOPPED), all the real themis code.`,
    ],
    verdict: () => {
      const killed = model.events.filter(
        (e) => /stopped on .*: instance terminated$/.test(e) && !e.startsWith('service:log-agent'),
      );
      const report = [...jobArns.entries()].find(([, what]) => what.startsWith('nightly-report'));
      const reportEnd = report
        ? model.events.find(
            (e) => e === `family:job stopped on ${nth(3)}: essential container exited`,
          )
        : undefined;
      const scaleIns = reports.filter((r) => r.action?.kind === 'scale-in' && r.acted).length;
      return {
        ok: killed.length === 0 && reportEnd !== undefined,
        lines: [
          `scale function: ${reports.length} runs, ${scaleIns} instances drained and terminated`,
          `tasks killed by a termination: ${killed.length}${killed.length ? ` (${killed.join('; ')})` : ' — none, as it must be'}`,
          `the 24-minute report ${reportEnd ? 'ran to its end' : 'did NOT run to its end'}`,
        ],
      };
    },
  };
}

/** The recipe's settings (docs/s3-script.md; test/sim/sandbox-stories.test.ts compares them). */
export const S3_SCRIPT_URL = 'https://s3.amazonaws.com/my-scripts-bucket/themis/pre-termination.sh';
export const S3_RECIPE_ENV = Object.freeze({
  THEMIS_SSM_DOCUMENT: RUN_REMOTE_SCRIPT,
  THEMIS_SSM_PARAMETERS: JSON.stringify({
    sourceType: 'S3',
    sourceInfo: JSON.stringify({ path: S3_SCRIPT_URL }),
    commandLine: 'pre-termination.sh',
    executionTimeout: '600',
  }),
  THEMIS_SSM_TIMEOUT_SECONDS: '900',
});
export const S3_LOGS_PREFIX = 's3://my-logs-bucket/terminated/';
export const S3_SANDBOX_GROUP = 'workers';

/** Work units per instance (launch order), in minutes from the start. */
const S3_STORY_WORK: Record<number, Array<[number, number]>> = {
  1: [[0, 7]],
  2: [],
  3: [[0, 3]],
  4: [[1, 16]],
};

/**
 * S3 script (`--s3-script`): the recipe of docs/s3-script.md on a group "workers" of 4
 * instances with real HTTP workers on loopback. The gate's pre-termination command is
 * SSM's AWS-RunRemoteScript with sourceType S3 (its deploy params, through the deploy's own
 * code): when the gate finds a terminating instance idle, it sends the command, the
 * instance downloads pre-termination.sh from the scripts bucket and runs it (it copies the
 * instance's log to the logs bucket), and only when SSM reports success does the gate
 * complete the action with CONTINUE.
 *
 *   00:02  scale-in by 2: instance 2 (idle) goes through the script; the rest are busy and
 *          protected — "could not scale" until instance 3's work ends (00:03) and protect
 *          unprotects it; it goes through the script too
 *   00:09  an operator terminates instance 4, busy until 00:16: held, then the script, then
 *          the release
 *   00:18  someone deletes the script from the bucket; 00:19 scale-in by 1: instance 1's
 *          download fails (404) and the gate completes with THEMIS_ON_SSM_FAILURE (CONTINUE),
 *          saying so in an "ssm-failed" notice
 *
 * The story's own check: every release after a successful command came after its script
 * had finished and copied the log.
 */
export async function s3ScriptStory(options: SandboxOptions): Promise<SandboxStory> {
  const stack = await deployed({
    ssmDocument: S3_RECIPE_ENV.THEMIS_SSM_DOCUMENT,
    ssmParameters: S3_RECIPE_ENV.THEMIS_SSM_PARAMETERS,
    ssmTimeoutSeconds: S3_RECIPE_ENV.THEMIS_SSM_TIMEOUT_SECONDS,
    onSsmFailure: 'CONTINUE',
  });
  let launched = 0;
  let runScript: DocumentRunner = () => undefined;
  const sim = new Simulation({
    seed: options.seed ?? 7,
    deployed: stack,
    groups: [{ name: S3_SANDBOX_GROUP, desired: 4, hook: stack.hook }],
    work: ({ launchedAt }) => {
      const script = S3_STORY_WORK[++launched] ?? [];
      return new WorkSchedule(
        script.map(([a, b]) => ({ startMs: launchedAt + a * MIN, endMs: launchedAt + b * MIN })),
      );
    },
    // AWS-owned: the document exists in every region.
    commands: {
      documents: [RUN_REMOTE_SCRIPT],
      runners: { [RUN_REMOTE_SCRIPT]: (c) => runScript(c) },
    },
    gate: {
      env: {
        THEMIS_RECHECK_SECONDS: '30',
        // Wall-clock milliseconds: a worker answers in one or two.
        THEMIS_PROBE_TIMEOUT_MS: '1000',
      },
      ...(options.wrapGate ? { wrapDeps: options.wrapGate } : {}),
    },
    protect: { env: { THEMIS_PROBE_TIMEOUT_MS: '1000' } },
  });
  const s3 = new SimS3(sim.now);
  s3.put(S3_SCRIPT_URL, '#!/bin/bash\n# pre-termination.sh (docs/s3-script.md)\n');
  const remote = remoteScriptRunner({
    s3,
    scheduler: sim.scheduler,
    journal: sim.journal,
    fleet: sim.fleet,
    logsPrefix: S3_LOGS_PREFIX,
    // Longer than a recheck interval: the gate follows the command over several steps.
    runMs: 45_000,
  });
  runScript = remote.runner;
  const nth = (n: number) => sim.fleet.instances(S3_SANDBOX_GROUP).find((i) => i.seq === n)!.id;

  return {
    name: 's3-script',
    sim,
    group: S3_SANDBOX_GROUP,
    endMinutes: 24,
    loopbackWorkers: true,
    beats: [
      { minutes: 2, what: 'scale-in by 2', run: () => sim.fleet.scaleIn(S3_SANDBOX_GROUP, 2) },
      {
        minutes: 9,
        what: 'an operator terminates instance 4 (busy until 16:00)',
        run: () => sim.fleet.terminateInstance(nth(4), true),
      },
      {
        minutes: 18,
        what: 'someone deletes the script from the bucket',
        run: () => {
          s3.delete(S3_SCRIPT_URL);
          sim.journal.add('setting', `${S3_SCRIPT_URL} deleted from S3`, {
            data: { fault: 's3-object-deleted' },
          });
        },
      },
      { minutes: 19, what: 'scale-in by 1', run: () => sim.fleet.scaleIn(S3_SANDBOX_GROUP, 1) },
    ],
    intro: (workers) => [
      `A simulated Auto Scaling group "${S3_SANDBOX_GROUP}" of 4 instances, each with a real HTTP worker on loopback${workers?.mode === 'shared-port' ? ` (port ${workers.port})` : ''}.`,
      `The gate's pre-termination command is the recipe of docs/s3-script.md: SSM's ${RUN_REMOTE_SCRIPT}`,
      `with sourceType S3, running ${S3_SCRIPT_URL}`,
      `before each release (the simulated instance downloads it and copies its log to ${S3_LOGS_PREFIX}).`,
    ],
    verdict: () => {
      const lines: string[] = [];
      let ok = true;
      const at = (ms: number) => formatElapsed(ms, sim.scheduler.startMs);
      for (const action of sim.fleet.actions) {
        const ended = action.ended;
        if (!ended) continue;
        const run = remote.runs.find((r) => r.instanceId === action.instanceId);
        const sent = sim.commands.sent.find((c) => c.instanceId === action.instanceId);
        if (!sent) {
          ok = false;
          lines.push(`${action.instanceId}: released at ${at(ended.at)} WITHOUT its script`);
        } else if (run?.ok) {
          const before = run.at <= ended.at && s3.get(run.logUrl!) !== undefined;
          ok &&= before;
          lines.push(
            `${action.instanceId}: script ran ${at(sent.sentAt)}–${at(run.at)} (log in ${run.logUrl}), then ${ended.result} at ${at(ended.at)}${before ? '' : ' — TOO EARLY'}`,
          );
        } else {
          lines.push(
            `${action.instanceId}: script failed${run ? ` at ${at(run.at)}` : ''}, then ${ended.result} at ${at(ended.at)} (THEMIS_ON_SSM_FAILURE)`,
          );
        }
      }
      return {
        ok,
        lines: ['pre-termination script (AWS-RunRemoteScript, S3):', ...lines.map((l) => `  ${l}`)],
      };
    },
  };
}
