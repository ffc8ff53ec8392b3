/**
 * A few readable histories, end to end: the simulated Auto Scaling group, real HTTP workers
 * on loopback addresses answering BUSY/IDLE from their work schedule at the virtual now,
 * the real HTTP prober, and the real protect and gate code.
 */
import { expect } from 'chai';
import { checkInvariants } from '../../sim/invariants.js';
import type { LoopbackWorkers } from '../../sim/loopback-workers.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import { attachLoopbackWorkers, Simulation, type SimulationOptions } from '../../sim/simulation.js';
import { WorkSchedule, type WorkUnit } from '../../sim/work.js';
import { deployed } from '../../sim/deployed.js';

const MIN = 60_000;
const HOOK = { name: 'themis', heartbeatTimeoutSeconds: 300, defaultResult: 'CONTINUE' as const };

describe('sim/scenarios', () => {
  let workers: LoopbackWorkers | undefined;

  afterEach(async () => {
    await workers?.close();
    workers = undefined;
  });

  /** A group whose n-th instance (launch order) works the units given for it, in minutes from the start. */
  async function world(
    desired: number,
    units: Record<number, Array<[number, number]>>,
    options: Partial<SimulationOptions> = {},
  ): Promise<Simulation> {
    let n = 0;
    const sim = new Simulation({
      seed: 11,
      deployed: await deployed({ recheckSeconds: '30' }),
      groups: [{ name: 'render', desired, hook: HOOK }],
      work: ({ launchedAt }) => {
        const mine = units[++n] ?? [];
        return new WorkSchedule(
          mine.map(([from, to]): WorkUnit => ({
            startMs: launchedAt + from * MIN,
            endMs: launchedAt + to * MIN,
          })),
        );
      },
      gate: { env: { THEMIS_RECHECK_SECONDS: '30' } },
      ...options,
    });
    workers = await attachLoopbackWorkers(sim);
    for (const i of sim.fleet.instances()) expect(isLoopbackAddress(i.address)).to.equal(true);
    return sim;
  }

  const events = (sim: Simulation, instanceId: string) =>
    sim.published.filter((p) => p.instanceId === instanceId).map((p) => p.notice.attributes.event);

  it('holds a busy instance through a scale-in and releases it soon after its work ends', async () => {
    // #1 starts a 10-minute job at 1:30, after the 1:00 scan saw it idle: it is unprotected
    // and the oldest, so the 2:00 scale-in picks it.
    const sim = await world(3, { 1: [[1.5, 11.5]] });
    sim.startProtect();
    const [first] = sim.fleet.instances('render');
    sim.scheduler.at(sim.now() + 2 * MIN, 'scale-in', () => sim.fleet.scaleIn('render', 1));
    await sim.runFor(20 * MIN);

    const action = sim.fleet.actions.find((a) => a.instanceId === first!.id)!;
    expect(action.busyAtStart, 'busy when the scale-in came').to.equal(true);
    expect(action.protectedAtStart).to.equal(false);
    expect(action.ended).to.deep.include({ by: 'completed', result: 'CONTINUE' });
    const idleAt = sim.scheduler.startMs + 11.5 * MIN;
    expect(action.ended!.at).to.be.at.least(idleAt);
    expect(action.ended!.at - idleAt).to.be.at.most(30_000 + 5_000);
    expect(action.heartbeats).to.be.greaterThan(10);
    expect(sim.fleet.terminations.filter((t) => t.busy)).to.deep.equal([]);
    expect(events(sim, first!.id)).to.deep.equal(['holding', 'released']);
    expect(workers!.requests()).to.be.greaterThan(20);
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });

  it('records "could not scale" when every instance is protected, and scales in once one is idle', async () => {
    const sim = await world(2, { 1: [[0, 10]], 2: [[0, 30]] });
    sim.startProtect();
    sim.scheduler.at(sim.now() + 2 * MIN, 'scale-in', () => sim.fleet.scaleIn('render', 1));
    await sim.runFor(5 * MIN);
    expect(sim.fleet.desiredCapacity('render')).to.equal(1);
    expect(sim.fleet.couldNotScale).to.have.length(1);
    expect(sim.fleet.actions, 'nothing terminating while both are protected').to.deep.equal([]);

    await sim.runFor(10 * MIN);
    const [first, second] = sim.fleet.instances('render');
    expect(sim.fleet.actions.map((a) => a.instanceId)).to.deep.equal([first!.id]);
    expect(sim.fleet.actions[0]!.busyAtStart).to.equal(false);
    expect(events(sim, first!.id)).to.deep.equal(['released']);
    expect(second!.lifecycleState).to.equal('InService');
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });

  it('holds a busy, protected instance that fails its health check until its work ends', async () => {
    const sim = await world(2, { 1: [[0, 8]] }, { fleet: { launchSeconds: 60 } });
    sim.startProtect();
    const [sick] = sim.fleet.instances('render');
    sim.scheduler.at(sim.now() + 2 * MIN, 'health check', () => sim.fleet.markUnhealthy(sick!.id));
    await sim.runFor(15 * MIN);

    const action = sim.fleet.actions[0]!;
    expect(action).to.include({
      instanceId: sick!.id,
      cause: 'health',
      busyAtStart: true,
      protectedAtStart: true,
    });
    expect(action.ended!.at).to.be.at.least(sim.scheduler.startMs + 8 * MIN);
    expect(sim.fleet.terminations.filter((t) => t.busy)).to.deep.equal([]);
    expect(events(sim, sick!.id)).to.deep.equal(['holding', 'released']);
    const live = sim.fleet.instances('render').filter((i) => i.lifecycleState === 'InService');
    expect(live, 'replaced: back to two').to.have.length(2);
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });

  it('releases an instance that stopped answering as unreachable after the unknown limit', async () => {
    const sim = await world(
      2,
      { 1: [[0, 60]] },
      { gate: { env: { THEMIS_RECHECK_SECONDS: '30', THEMIS_UNKNOWN_LIMIT: '3' } } },
    );
    sim.startProtect();
    const [dead] = sim.fleet.instances('render');
    sim.scheduler.at(sim.now() + 1 * MIN, 'dies', () => sim.fleet.stopAnswering(dead!.id));
    sim.scheduler.at(sim.now() + 2 * MIN, 'operator', () =>
      sim.fleet.terminateInstance(dead!.id, true),
    );
    await sim.runFor(10 * MIN);

    const action = sim.fleet.actions[0]!;
    expect(action.ended).to.deep.include({ by: 'completed', result: 'CONTINUE' });
    // Three unknown answers: the first step and two rechecks.
    expect(action.ended!.at - action.startedAt).to.be.within(55_000, 65_000 + 5_000);
    expect(events(sim, dead!.id)).to.deep.equal(['released-unreachable']);
    const notice = sim.published.find((p) => p.notice.attributes.event === 'released-unreachable')!;
    expect(notice.notice.message).to.match(/stopped answering/);
    // It was protected (busy) before it died: an unknown answer never took that away.
    expect(sim.unprotections.filter((u) => u.instanceId === dead!.id)).to.deep.equal([]);
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });

  it('sends one "released" when the lifecycle event is delivered twice', async () => {
    const sim = await world(1, { 1: [[0, 3]] }, { faults: { duplicateEvent: 1 }, protect: false });
    const [only] = sim.fleet.instances('render');
    sim.fleet.scaleIn('render', 1);
    await sim.runFor(10 * MIN);

    const eventInvocations = sim.gate.invocations.filter((i) => i.trigger === 'event');
    expect(eventInvocations, 'two deliveries of the one event').to.have.length(2);
    expect(eventInvocations.every((i) => i.result === 'ok')).to.equal(true);
    const released = sim.published.filter((p) => p.notice.attributes.event === 'released');
    expect(released).to.have.length(1);
    expect(released[0]!.notice.subject).to.contain(only!.id);
    expect(sim.fleet.actions[0]!.ended).to.deep.include({ by: 'completed' });
    expect(
      sim.steps.some((s) => s.decision === 'stopped'),
      'the other chain found it gone',
    ).to.equal(true);
    expect(checkInvariants(sim).violations).to.deep.equal([]);
  });
});
