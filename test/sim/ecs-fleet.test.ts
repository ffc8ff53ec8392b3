/**
 * ECS-mode groups in the simulator's fleet (sim/ecs-fleet.ts): the real protect and gate
 * code in ECS mode, through the real adapter (lib/aws/ecs.ts) against the fake ECSClient
 * (sim/ecs-client.ts) over the ECS model (sim/ecs.ts), on the virtual clock — and the
 * checker (sim/invariants.ts) judging "busy" by ECS's own tasks.
 */
import { expect } from 'chai';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import type { GateDeps } from '../../lib/gate/step.js';
import type { EcsTask } from '../../lib/ports.js';
import { deployed } from '../../sim/deployed.js';
import { createFakeEcsClient } from '../../sim/ecs-client.js';
import { EcsClusterModel } from '../../sim/ecs.js';
import { randomHistory, runHistory, type HistoryRun } from '../../sim/history.js';
import { checkInvariants, type ViolationKind } from '../../sim/invariants.js';
import { Simulation, type SimulationOptions } from '../../sim/simulation.js';
import { ApiCalls } from '../../sim/api-calls.js';
import { Random } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { AwsAccount, freshRetryState } from '../../sim/sdk.js';

const MIN = 60_000;
const HOOK = { name: 'themis', heartbeatTimeoutSeconds: 300, defaultResult: 'CONTINUE' as const };

/** The gate's ECS port with some methods replaced (the broken variants below). */
function withEcs(
  deps: GateDeps,
  change: (ecs: NonNullable<GateDeps['ecs']>) => Partial<NonNullable<GateDeps['ecs']>>,
): GateDeps {
  const e = deps.ecs!;
  return {
    ...deps,
    ecs: {
      containerInstances: (...a) => e.containerInstances(...a),
      tasks: (...a) => e.tasks(...a),
      services: (...a) => e.services(...a),
      serviceArns: (...a) => e.serviceArns(...a),
      taskReservation: (...a) => e.taskReservation(...a),
      setContainerInstancesState: (...a) => e.setContainerInstancesState(...a),
      setDesiredCount: (...a) => e.setDesiredCount(...a),
      ...change(e),
    },
  };
}

const tasksWhere =
  (keep: (t: EcsTask) => boolean) =>
  (deps: GateDeps): GateDeps =>
    withEcs(deps, (e) => ({
      tasks: async (cluster, query, opts) => (await e.tasks(cluster, query, opts)).filter(keep),
    }));

/** Broken: a task still PENDING (placed, starting) is not work. */
const ignoringPending = tasksWhere((t) => t.lastStatus !== 'PENDING');
/** Broken: only tasks ECS wants running are read (ListTasks desired RUNNING only). */
const ignoringStopping = tasksWhere((t) => t.desiredStatus === 'RUNNING');
/** Broken: a failed ListContainerInstances reads as "not registered". */
const failureAsUnregistered = (deps: GateDeps): GateDeps =>
  withEcs(deps, (e) => ({
    containerInstances: (...a) => e.containerInstances(...a).catch(() => []),
  }));

/** The first ECS history (seeds from 1) in which the broken gate breaks `kind`. */
async function firstEcsFailing(
  kind: ViolationKind,
  wrapDeps: (deps: GateDeps) => GateDeps,
  limit = 1000,
): Promise<HistoryRun | undefined> {
  for (let seed = 1; seed <= limit; seed++) {
    const spec = await randomHistory(seed);
    if (!spec.ecs) continue;
    const run = await runHistory(spec, { wrapDeps });
    if (run.check.violations.some((v) => v.kind === kind)) return run;
  }
  return undefined;
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

  describe('ECS histories: the checker can fail', function () {
    this.timeout(300_000);

    it('catches a gate that takes an instance whose only tasks are PENDING for idle', async () => {
      const run = await firstEcsFailing('busy-terminated', ignoringPending);
      expect(run, 'some ECS history terminates an instance with a starting task').to.not.equal(
        undefined,
      );
    });

    it('catches a gate that reads only the tasks ECS wants running (not those still stopping)', async () => {
      expect(await firstEcsFailing('busy-terminated', ignoringStopping)).to.not.equal(undefined);
    });

    it('catches a gate that reads a failed ECS listing as "never registered"', async () => {
      expect(await firstEcsFailing('busy-terminated', failureAsUnregistered)).to.not.equal(
        undefined,
      );
    });
  });
});
