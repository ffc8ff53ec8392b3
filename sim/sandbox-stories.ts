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

export async function s3ScriptStory(_options: SandboxOptions): Promise<SandboxStory> {
  throw new Error('the S3-script story is not written yet');
}
