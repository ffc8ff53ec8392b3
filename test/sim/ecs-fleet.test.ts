/**
 * ECS-mode groups in the simulator's fleet (sim/ecs-fleet.ts): the real protect and gate
 * code in ECS mode, through the real adapter (lib/aws/ecs.ts) against the fake ECSClient
 * (sim/ecs-client.ts) over the ECS model (sim/ecs.ts), on the virtual clock — and the
 * checker (sim/invariants.ts) judging "busy" by ECS's own tasks.
 */
import { expect } from 'chai';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import type { GateDeps } from '../../lib/gate/step.js';
import type { EcsClusterState, EcsTask } from '../../lib/ports.js';
import { deployed } from '../../sim/deployed.js';
import { createFakeEcsClient } from '../../sim/ecs-client.js';
import { EcsClusterModel } from '../../sim/ecs.js';
import { checkInvariants } from '../../sim/invariants.js';
import { Simulation, type SimulationOptions } from '../../sim/simulation.js';
import { ApiCalls } from '../../sim/api-calls.js';
import { Random } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { AwsAccount, freshRetryState } from '../../sim/sdk.js';

const MIN = 60_000;
const HOOK = { name: 'themis', heartbeatTimeoutSeconds: 300, defaultResult: 'CONTINUE' as const };

/** A gate whose ECS reader drops tasks that are still PENDING (the broken variant). */
export function ignoringPending(deps: GateDeps): GateDeps {
  const ecs = deps.ecs!;
  return {
    ...deps,
    ecs: {
      ...bind(ecs),
      tasks: async (cluster, query, opts) =>
        (await ecs.tasks(cluster, query, opts)).filter((t: EcsTask) => t.lastStatus !== 'PENDING'),
    },
  };
}

function bind<T extends EcsClusterState>(ecs: T): T {
  const proto = Object.getPrototypeOf(ecs) as object;
  const bound = {} as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(proto)) {
    const v = (ecs as unknown as Record<string, unknown>)[key];
    if (key !== 'constructor' && typeof v === 'function') bound[key] = v.bind(ecs);
  }
  for (const [k, v] of Object.entries(ecs)) bound[k] = typeof v === 'function' ? v.bind(ecs) : v;
  return bound as T;
}

async function ecsWorld(options: Partial<SimulationOptions> = {}): Promise<Simulation> {
  return new Simulation({
    seed: 7,
    deployed: await deployed({ recheckSeconds: '30' }),
    groups: [{ name: 'jobs', desired: 3, hook: HOOK }],
    gate: { env: { THEMIS_RECHECK_SECONDS: '30' }, ...options.gate },
    protect: false,
    ecs: {
      clusters: [{ group: 'jobs', daemon: true, startMs: [5000, 5000], stopMs: [10_000, 10_000] }],
    },
    ...options,
  });
}

describe('sim/ecs-fleet', () => {
  it('holds a terminating ECS instance while its job runs: DRAINING by the gate, released after the job STOPPED, naming it', async () => {
    const sim = await ecsWorld();
    const [a] = sim.fleet.instances('jobs');
    const model = sim.ecs.modelOf('jobs')!;
    const job = model.runTask('job', 12 * MIN, a!.id)!;
    sim.scheduler.after(2 * MIN, 'terminate', () => sim.fleet.terminateInstance(a!.id, true));
    await sim.runFor(5 * MIN);

    // Held, drained once, and its daemon still running beside the job.
    expect(a!.lifecycleState).to.equal('Terminating:Wait');
    expect(model.containerInstanceOf(a!.id)!.status).to.equal('DRAINING');
    expect(sim.calls.snapshot().calls.UpdateContainerInstancesState).to.equal(1);
    await sim.runUntilSettled(3600_000);

    const action = sim.fleet.actions.find((x) => x.instanceId === a!.id)!;
    // The job ends at 12:05 (PENDING 5 s), STOPPED 10 s later; released within a recheck.
    expect(action.ended!.result).to.equal('CONTINUE');
    expect(action.ended!.at - sim.scheduler.startMs).to.be.within(12 * MIN + 15_000, 13 * MIN);
    const notice = sim.published.find((p) => p.notice.attributes.event === 'released')!;
    expect(notice.notice.message).to.include(job.slice(job.lastIndexOf('/') + 1));
    expect(model.events).to.include(`family:job stopped on ${a!.id}: essential container exited`);
    expect(sim.fleet.terminations.filter((t) => t.busy)).to.deep.equal([]);
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });

  it('counts an instance busy while its task is PENDING, and catches a gate that does not', async () => {
    const run = async (wrapDeps?: (deps: GateDeps) => GateDeps) => {
      const sim = await ecsWorld({
        ecs: { clusters: [{ group: 'jobs', startMs: [90_000, 90_000], stopMs: [1000, 1000] }] },
        ...(wrapDeps ? { gate: { env: { THEMIS_RECHECK_SECONDS: '30' }, wrapDeps } } : {}),
      });
      const [a] = sim.fleet.instances('jobs');
      sim.scheduler.after(MIN, 'job', () => {
        sim.ecs.modelOf('jobs')!.runTask('job', 3 * MIN, a!.id);
      });
      sim.scheduler.after(MIN + 1000, 'terminate', () => sim.fleet.terminateInstance(a!.id, true));
      await sim.runFor(10 * MIN);
      await sim.runUntilSettled(3600_000);
      return checkInvariants(sim);
    };
    expect((await run()).violations).to.deep.equal([]);
    const broken = await run(ignoringPending);
    expect(broken.violations.map((v) => v.kind)).to.include('busy-terminated');
  });

  it('protects instances running tasks and unprotects empty ones, by ECS answers (no HTTP probe)', async () => {
    const sim = await ecsWorld({ protect: {} });
    const [a, b] = sim.fleet.instances('jobs');
    sim.ecs.modelOf('jobs')!.runTask('job', 30 * MIN, a!.id);
    sim.startProtect();
    await sim.runFor(3 * MIN);
    sim.stopProtect();
    expect(a!.protectedFromScaleIn).to.equal(true);
    expect(b!.protectedFromScaleIn).to.equal(false);
    expect(sim.lastProbe.get(a!.id)?.status).to.equal('busy');
    expect(sim.lastProbe.get(b!.id)?.status).to.equal('idle');
    expect(sim.calls.snapshot().calls.DescribeInstances ?? 0).to.be.at.most(1);
    expect(sim.calls.snapshot().calls.ListTasks).to.be.greaterThan(0);
  });

  it('answers the adapter in pages, describes in batches, and reports an unknown cluster', async () => {
    const scheduler = new Scheduler();
    const model = new EcsClusterModel('big', scheduler.now, { job: { cpu: 1, memoryMb: 1 } });
    model.register('i-00000000000000001', { cpu: 1000, memoryMb: 1000 });
    for (let i = 0; i < 250; i++) model.runTask('job', MIN);
    const calls = new ApiCalls();
    const account = new AwsAccount(scheduler, new Random(1), calls, { latencyMs: { ecs: [0, 0] } });
    const owner = { alive: () => true, tookEffect: () => false };
    const client = createFakeEcsClient(
      { clusters: new Map([['big', model]]), now: scheduler.now },
      { scheduler, account, owner, retry: freshRetryState(), random: new Random(2) },
    );
    const adapter = new EcsAdapter(client);
    const run = <T>(p: Promise<T>) => {
      void scheduler.runUntil(scheduler.now() + MIN);
      return p;
    };
    const tasks = await run(adapter.tasks('big'));
    expect(tasks).to.have.length(250);
    // Desired RUNNING: 3 pages of at most 100; desired STOPPED: one empty page.
    expect(calls.snapshot().calls.ListTasks).to.equal(3 + 1);
    expect(calls.snapshot().calls.DescribeTasks).to.equal(3);
    const err = await run(adapter.containerInstances('nope', {})).catch((e: Error) => e);
    expect(String((err as Error).message)).to.match(/ClusterNotFoundException|Cluster not found/);
  });
});
