import { expect } from 'chai';
import { awsErrorName, errorMessage, UpstreamError } from '../../lib/errors.js';
import { SDK_MAX_ATTEMPTS } from '../../sim/faults.js';
import { LIFECYCLE_DETAIL_TYPE, type LifecycleEvent } from '../../sim/fleet.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import { Scheduler } from '../../sim/scheduler.js';
import { Simulation, type SimulationOptions } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';
import { checkInvariants } from '../../sim/invariants.js';
import { gateInvocationsPerHourOfHold, percentile, releaseLatencies } from '../../sim/measure.js';

const MIN = 60_000;
const HOOK = { name: 'themis', heartbeatTimeoutSeconds: 300, defaultResult: 'ABANDON' as const };

/** A world without protect or gate: the tests drive the model through its API and ports. */
function world(options: Partial<SimulationOptions> = {}): Simulation {
  return new Simulation({
    seed: 1,
    groups: [{ name: 'web', desired: 4, hook: HOOK }],
    protect: false,
    gate: { enabled: false },
    ...options,
  });
}

function states(sim: Simulation, group = 'web'): Record<string, string> {
  return Object.fromEntries(sim.fleet.instances(group).map((i) => [i.id, i.lifecycleState]));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('sim/scheduler', () => {
  it('runs events in time order, and same-time events in the order they were scheduled', async () => {
    const s = new Scheduler(0);
    const seen: string[] = [];
    s.at(20, 'b', () => void seen.push(`b@${s.now()}`));
    s.at(10, 'a', () => void seen.push(`a@${s.now()}`));
    s.at(20, 'c', () => void seen.push(`c@${s.now()}`));
    await s.runUntil(100);
    expect(seen).to.deep.equal(['a@10', 'b@20', 'c@20']);
    expect(s.now()).to.equal(100);
  });

  it('keeps virtual time still while an event awaits real I/O', async () => {
    const s = new Scheduler(0);
    const times: number[] = [];
    s.at(5, 'slow', async () => {
      times.push(s.now());
      await new Promise((r) => setTimeout(r, 20));
      times.push(s.now());
    });
    s.at(6, 'next', () => void times.push(s.now()));
    await s.runUntil(10);
    expect(times).to.deep.equal([5, 5, 6]);
  });

  it('never runs a cancelled event', async () => {
    const s = new Scheduler(0);
    let ran = false;
    s.at(1, 'x', () => void (ran = true)).cancel();
    await s.runUntil(10);
    expect(ran).to.equal(false);
  });
});

describe('sim/fleet', () => {
  it('gives every instance a loopback address and refuses any other', () => {
    const sim = world();
    for (const i of sim.fleet.instances())
      expect(isLoopbackAddress(i.address), i.address).to.equal(true);
    expect(
      () =>
        new Simulation({
          seed: 1,
          groups: [{ name: 'web', desired: 1 }],
          protect: false,
          // RFC 5737 documentation address: never routed, never probed (construction throws).
          fleet: { addressOf: () => '192.0.2.10' },
        }),
    ).to.throw(/not in 127\.0\.0\.0\/8/);
  });

  it('scales in unprotected InService instances, oldest first', async () => {
    const sim = world();
    const [a, b, c, d] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.setInstanceProtection('web', [a!], true);
    sim.fleet.scaleIn('web', 2);
    expect(states(sim)).to.deep.equal({
      [a!]: 'InService',
      [b!]: 'Terminating:Wait',
      [c!]: 'Terminating:Wait',
      [d!]: 'InService',
    });
    expect(sim.fleet.couldNotScale).to.deep.equal([]);
  });

  it('drops the capacity but terminates nothing when every instance is protected, and scales in once protection goes', async () => {
    const sim = world();
    const ids = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.setInstanceProtection('web', ids, true);
    sim.fleet.scaleIn('web', 1);
    expect(sim.fleet.desiredCapacity('web')).to.equal(3);
    expect(Object.values(states(sim))).to.deep.equal([
      'InService',
      'InService',
      'InService',
      'InService',
    ]);
    expect(sim.fleet.couldNotScale).to.have.length(1);
    expect(sim.fleet.couldNotScale[0]).to.include({ group: 'web', shortfall: 1 });

    sim.fleet.setInstanceProtection('web', [ids[2]!], false);
    await sim.runFor(MIN);
    expect(states(sim)[ids[2]!]).to.equal('Terminating:Wait');
  });

  it('replaces an unhealthy instance whatever its protection, through the hook', async () => {
    const sim = world({ fleet: { launchSeconds: 30 } });
    const [a] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.setInstanceProtection('web', [a!], true);
    sim.fleet.markUnhealthy(a!);
    expect(states(sim)[a!]).to.equal('Terminating:Wait');
    const replacement = sim.fleet.instances('web').find((i) => i.lifecycleState === 'Pending');
    expect(replacement, 'a replacement is launching').to.not.equal(undefined);
    await sim.runFor(31_000);
    expect(replacement!.lifecycleState).to.equal('InService');
  });

  it('terminates through TerminateInstanceInAutoScalingGroup whatever the protection, with or without a replacement', () => {
    const sim = world();
    const [a, b] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.setInstanceProtection('web', [a!, b!], true);
    sim.fleet.terminateInstance(a!, true);
    expect(sim.fleet.desiredCapacity('web')).to.equal(3);
    expect(sim.fleet.instances('web')).to.have.length(4);
    sim.fleet.terminateInstance(b!, false);
    expect(sim.fleet.desiredCapacity('web')).to.equal(3);
    expect(sim.fleet.instances('web')).to.have.length(5);
    expect(states(sim)[a!]).to.equal('Terminating:Wait');
    expect(states(sim)[b!]).to.equal('Terminating:Wait');
  });

  it('emits the EventBridge lifecycle event with a token and the hook metadata', () => {
    const sim = world({
      groups: [
        {
          name: 'web',
          desired: 1,
          hook: { ...HOOK, notificationMetadata: '{"metricsPort":9100}' },
        },
      ],
    });
    const events: LifecycleEvent[] = [];
    sim.fleet.onLifecycleEvent((e) => events.push(e));
    const [a] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.scaleIn('web', 1);
    expect(events).to.have.length(1);
    const e = events[0]!;
    expect(e['detail-type']).to.equal(LIFECYCLE_DETAIL_TYPE);
    expect(e.source).to.equal('aws.autoscaling');
    expect(e.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(e.detail).to.include({
      AutoScalingGroupName: 'web',
      LifecycleHookName: 'themis',
      EC2InstanceId: a,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      NotificationMetadata: '{"metricsPort":9100}',
    });
    expect(e.detail.LifecycleActionToken).to.equal(sim.fleet.actions[0]!.token);
  });

  it('restarts the heartbeat timeout on each heartbeat and applies DefaultResult when it passes', async () => {
    const sim = world();
    const [a] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.scaleIn('web', 1);
    const action = sim.fleet.actions[0]!;
    const ref = { groupName: 'web', hookName: 'themis', instanceId: a!, token: action.token };
    await sim.runFor(4 * MIN);
    sim.fleet.recordLifecycleActionHeartbeat(ref);
    await sim.runFor(4 * MIN);
    expect(action.ended, 'still held 8 minutes in, thanks to the heartbeat').to.equal(undefined);
    await sim.runFor(1 * MIN + 1);
    expect(action.ended).to.deep.include({ by: 'heartbeat-timeout', result: 'ABANDON' });
    expect(action.ended!.at - action.startedAt).to.equal(9 * MIN);
    expect(sim.fleet.terminations.map((t) => t.instanceId)).to.deep.equal([a]);
  });

  it('ends an action at the global timeout, min(48 h, 100 × HeartbeatTimeout), however often it heartbeats', async () => {
    const sim = world({
      groups: [{ name: 'web', desired: 1, hook: { ...HOOK, heartbeatTimeoutSeconds: 60 } }],
    });
    const [a] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.scaleIn('web', 1);
    const action = sim.fleet.actions[0]!;
    sim.scheduler.every(30_000, 'heartbeat', () => {
      if (!action.ended)
        sim.fleet.recordLifecycleActionHeartbeat({
          groupName: 'web',
          hookName: 'themis',
          instanceId: a!,
        });
    });
    await sim.runFor(200 * MIN);
    expect(action.ended).to.deep.include({ by: 'global-timeout', result: 'ABANDON' });
    expect(action.ended!.at - action.startedAt).to.equal(100 * MIN);
    expect(sim.fleet.describeLifecycleHook('web', 'themis')?.globalTimeoutSeconds).to.equal(6000);
  });

  it('answers Complete and Heartbeat after the action ended with "No active Lifecycle Action found", which the port reads as gone', async () => {
    const sim = world();
    const [a] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.scaleIn('web', 1);
    const ref = {
      groupName: 'web',
      hookName: 'themis',
      instanceId: a!,
      token: sim.fleet.actions[0]!.token,
    };
    const ports = sim.ports();
    expect(await ports.lifecycle.complete(ref, 'CONTINUE')).to.equal('completed');
    let raw: unknown;
    try {
      sim.fleet.completeLifecycleAction(ref, 'CONTINUE');
    } catch (err) {
      raw = err;
    }
    expect(awsErrorName(raw)).to.equal('ValidationError');
    expect(errorMessage(raw)).to.match(/^No active Lifecycle Action found/);
    expect(await ports.lifecycle.complete(ref, 'CONTINUE')).to.equal('gone');
    expect(await ports.lifecycle.recordHeartbeat(ref)).to.equal('gone');
  });

  it('rejects SetInstanceProtection for an instance not InService, and for more than 50 ids, changing nothing', async () => {
    const sim = world();
    const [a, b] = sim.fleet.instances('web').map((i) => i.id);
    sim.fleet.scaleIn('web', 1); // a → Terminating:Wait
    const ports = sim.ports();
    const err = await rejection(ports.protection.setInstanceProtection('web', [b!, a!], true));
    expect(err).to.be.instanceOf(UpstreamError);
    expect(awsErrorName(err)).to.equal('ValidationError');
    expect(errorMessage(err)).to.contain(`${a} is not in InService`);
    expect(sim.fleet.instance(b!)!.protectedFromScaleIn, 'all or nothing').to.equal(false);

    const many = Array.from({ length: 51 }, () => b!);
    const tooMany = await rejection(ports.protection.setInstanceProtection('web', many, true));
    expect(awsErrorName(tooMany)).to.equal('ValidationError');
    expect(errorMessage(tooMany)).to.contain('less than or equal to 50');
  });

  it('counts each AWS call by name, and SDK retries of throttled attempts apart', async () => {
    const sim = world({ faults: { throttle: 0.5 } });
    const ports = sim.ports();
    const before = sim.calls.snapshot();
    let failures = 0;
    for (let i = 0; i < 200; i++) {
      try {
        await ports.groups.describeGroups(['web']);
      } catch (err) {
        failures++;
        expect(awsErrorName(err)).to.equal('Throttling');
      }
    }
    expect(sim.calls.since(before)).to.deep.equal({ DescribeAutoScalingGroups: 200 });
    expect(sim.calls.attempts('DescribeAutoScalingGroups')).to.be.greaterThan(300);
    // Only a call throttled on all its attempts fails: about 200 / 2^6 here.
    expect(failures).to.be.lessThan(20);
    expect(SDK_MAX_ATTEMPTS).to.be.greaterThan(1);
  });

  it('chunks lookups as the SDK adapters do: one DescribeInstances per 200 ids', async () => {
    const sim = world({ groups: [{ name: 'big', desired: 450 }] });
    const ids = sim.fleet.instances('big').map((i) => i.id);
    const found = await sim.ports().addresses.privateAddresses(ids);
    expect(found.size).to.equal(450);
    expect(sim.calls.count('DescribeInstances')).to.equal(3);
  });

  it('replays the same history for the same seed, and another for another seed', async () => {
    const run = async (seed: number) => {
      const sim = new Simulation({
        seed,
        groups: [{ name: 'web', desired: 3, hook: HOOK }],
        work: ({ random, launchedAt }) =>
          new WorkSchedule([
            {
              startMs: launchedAt + random.int(0, 5) * MIN,
              endMs: launchedAt + random.int(6, 20) * MIN,
            },
          ]),
        faults: { throttle: 0.3, duplicateEvent: 0.5 },
      });
      sim.startProtect();
      sim.scheduler.after(3 * MIN, 'scale-in', () => sim.fleet.scaleIn('web', 2));
      await sim.runFor(40 * MIN);
      return sim.journal.entries.map((e) => `${e.at} ${e.kind} ${e.text}`);
    };
    const first = await run(42);
    expect(await run(42)).to.deep.equal(first);
    expect(await run(43)).to.not.deep.equal(first);
  });
});

describe('sim/delivery', () => {
  it('retries a failing EventBridge invocation twice, 1 and 2 minutes apart, then dead-letters it', async () => {
    const sim = new Simulation({
      seed: 3,
      groups: [{ name: 'web', desired: 1, hook: HOOK }],
      protect: false,
      // Every step dies after its first call.
      faults: { stepCrash: 1, crashWithinCalls: 1 },
    });
    sim.fleet.scaleIn('web', 1);
    await sim.runFor(10 * MIN);
    const times = sim.steps.map((s) => s.at - sim.steps[0]!.at);
    expect(times).to.deep.equal([0, MIN, 3 * MIN]);
    expect(sim.steps.every((s) => s.verdict === 'crashed')).to.equal(true);
    expect(sim.events.deadLetters).to.have.length(1);
  });
});

describe('sim/invariants', () => {
  it('reports a message the gate cannot read as a rejected input, then dead-lettered', async () => {
    const sim = new Simulation({
      seed: 4,
      groups: [{ name: 'web', desired: 1, hook: HOOK }],
      protect: false,
    });
    sim.recheckQueue.send('{"themis":"recheck","v":99}', 0);
    await sim.runFor(60 * MIN);
    expect(sim.steps.map((s) => s.verdict)).to.deep.equal(['drop', 'drop', 'drop', 'drop', 'drop']);
    expect(sim.recheckQueue.deadLetters).to.have.length(1);
    const kinds = checkInvariants(sim).violations.map((v) => v.kind);
    expect(kinds).to.include('rejected-input');
  });
});

describe('sim/measure', () => {
  it('measures release latency from the moment the worker went idle, and gate invocations per hour of hold', async () => {
    const sim = new Simulation({
      seed: 5,
      groups: [{ name: 'web', desired: 2, hook: HOOK }],
      // #1 busy for the first 10 minutes, #2 always idle.
      work: ({ launchedAt, instanceId }) =>
        instanceId.endsWith('1')
          ? new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 10 * MIN }])
          : WorkSchedule.idle(),
      gate: { env: { THEMIS_RECHECK_SECONDS: '60' } },
      protect: false,
    });
    sim.fleet.scaleIn('web', 2);
    await sim.runUntilSettled(3600_000);
    const latencies = releaseLatencies(sim);
    expect(latencies.map((l) => l.instanceId).sort()).to.deep.equal(
      sim.fleet.actions.map((a) => a.instanceId).sort(),
    );
    const busyOne = latencies.find((l) => l.instanceId.endsWith('1'))!;
    expect(busyOne.idleAtMs).to.equal(sim.scheduler.startMs + 10 * MIN);
    expect(busyOne.latencyMs).to.be.within(0, 60_000);
    const idleOne = latencies.find((l) => !l.instanceId.endsWith('1'))!;
    expect(idleOne.latencyMs, 'the first step releases it: EventBridge latency only').to.be.below(
      2_001,
    );
    // ~10 minutes of hold with a step a minute, plus the idle one's single step.
    const perHour = gateInvocationsPerHourOfHold(sim);
    expect(perHour).to.be.within(55, 75);
    expect(percentile([3, 1, 2], 50)).to.equal(2);
    expect(Number.isNaN(percentile([], 50))).to.equal(true);
  });
});
