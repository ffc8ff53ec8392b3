/**
 * The simulator's model, piece by piece: the virtual clock, AWS at the SDK boundary (through
 * the real lib/aws adapters), Lambda's timeout and crashes, SQS and EventBridge delivery, and
 * the numbers read from the stack.
 */
import { expect } from 'chai';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { MAX_ATTEMPTS } from '../../lib/aws/clients.js';
import {
  LAMBDA_ASYNC_RETRY_DELAYS_SECONDS,
  LAUNCHING,
  TERMINATING_RETAINED,
  WARMED_PENDING_RETAINED,
} from '../../lib/aws/facts.js';
import { awsErrorName, errorMessage } from '../../lib/errors.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import { createFakeClients } from '../../sim/aws.js';
import { deployed, readServerlessYml } from '../../sim/deployed.js';
import type { GroupSpec } from '../../sim/fleet.js';
import { Container } from '../../sim/lambda.js';
import { Scheduler } from '../../sim/scheduler.js';
import { Simulation, type SimulationOptions } from '../../sim/simulation.js';
import { WorkSchedule } from '../../sim/work.js';

const MIN = 60_000;
const HOOK = { name: 'themis', heartbeatTimeoutSeconds: 300, defaultResult: 'ABANDON' as const };

async function world(options: Partial<SimulationOptions> = {}): Promise<Simulation> {
  return new Simulation({
    seed: 1,
    deployed: await deployed(),
    groups: [{ name: 'web', desired: 4, hook: HOOK }],
    protect: false,
    gate: { enabled: false },
    ...options,
  });
}

/** The real Auto Scaling adapter over a fresh container's fake client. */
function autoScaling(sim: Simulation): {
  adapter: AutoScalingAdapter;
  client: AutoScalingClient;
  container: Container;
} {
  const container = new Container(99, sim.scheduler);
  const clients = createFakeClients(sim.model, {
    scheduler: sim.scheduler,
    account: sim.account,
    owner: container,
    retry: container.retry,
    random: sim.random.fork('test-sdk'),
  });
  return {
    adapter: new AutoScalingAdapter(clients.autoScaling),
    client: clients.autoScaling,
    container,
  };
}

async function settle<T>(sim: Simulation, p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then(
    (value) => (out = { value }),
    (error: unknown) => (out = { error }),
  );
  await sim.scheduler.runUntil(sim.now() + 10 * MIN, { stop: () => out !== undefined });
  if (!out) throw new Error('never settled');
  return out;
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

  it('runs concurrent chains of awaits interleaved on the virtual clock', async () => {
    const s = new Scheduler(0);
    const seen: string[] = [];
    const chain = async (name: string, stepMs: number) => {
      for (let i = 0; i < 3; i++) {
        await s.sleep(stepMs);
        seen.push(`${name}@${s.now()}`);
      }
    };
    s.at(0, 'a', () => chain('a', 10));
    s.at(0, 'b', () => chain('b', 15));
    await s.runUntil(100);
    // At 30 both are due: b's timer was set first (at 15, a's at 20).
    expect(seen).to.deep.equal(['a@10', 'b@15', 'a@20', 'b@30', 'a@30', 'b@45']);
  });

  it('keeps virtual time still while tracked real I/O is in flight', async () => {
    const s = new Scheduler(0);
    const times: number[] = [];
    s.at(5, 'slow', async () => {
      times.push(s.now());
      await s.track(new Promise((r) => setTimeout(r, 20)));
      times.push(s.now());
    });
    s.at(6, 'next', () => void times.push(s.now()));
    await s.runUntil(10);
    expect(times).to.deep.equal([5, 5, 6]);
  });

  it('never fires a timer of a dead owner', async () => {
    const s = new Scheduler(0);
    let alive = true;
    let fired = false;
    s.timers(() => alive).setTimeout(() => (fired = true), 10);
    alive = false;
    await s.runUntil(100);
    expect(fired).to.equal(false);
  });
});

describe('sim/aws (through the real adapters)', () => {
  it('gives every instance a loopback address', async () => {
    const sim = await world();
    for (const i of sim.fleet.instances())
      expect(isLoopbackAddress(i.address), i.address).to.equal(true);
  });

  it('answers a heartbeat after the action ended with "No active Lifecycle Action found", which the adapter reads as gone', async () => {
    const sim = await world();
    const [first] = sim.fleet.instances('web');
    sim.fleet.scaleIn('web', 1);
    const action = sim.fleet.actions[0]!;
    const ref = {
      groupName: 'web',
      hookName: 'themis',
      instanceId: first!.id,
      token: action.token,
    };
    const { adapter } = autoScaling(sim);
    expect((await settle(sim, adapter.recordHeartbeat(ref))).value).to.equal('recorded');
    expect((await settle(sim, adapter.complete(ref, 'CONTINUE'))).value).to.equal('completed');
    expect((await settle(sim, adapter.recordHeartbeat(ref))).value).to.equal('gone');
    expect(sim.calls.count('RecordLifecycleActionHeartbeat')).to.equal(2);
  });

  it('takes virtual time per call, and retries a throttled call with backoff until its attempts run out', async () => {
    const sim = await world({ faults: { storms: [{ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }] } });
    const { adapter } = autoScaling(sim);
    const before = sim.now();
    const { error } = await settle(sim, adapter.describeGroups(['web']));
    expect(awsErrorName(error)).to.equal('Throttling');
    expect(errorMessage(error)).to.match(/Rate exceeded/);
    expect(sim.calls.attempts('DescribeAutoScalingGroups')).to.equal(MAX_ATTEMPTS);
    // Backoff from 500 ms, doubling with full jitter: seconds, not zero.
    expect(sim.now() - before).to.be.greaterThan(1000);
  });

  it('stops retrying at once when the abort signal fires', async () => {
    const sim = await world({ faults: { storms: [{ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }] } });
    const { client } = autoScaling(sim);
    const controller = new AbortController();
    sim.scheduler.after(700, 'abort', () => controller.abort(new Error('deadline')));
    const before = sim.now();
    const { error } = await settle(
      sim,
      client.send(new DescribeAutoScalingGroupsCommand({}), { abortSignal: controller.signal }),
    );
    expect(awsErrorName(error)).to.equal('AbortError');
    expect(sim.now() - before).to.equal(700);
    expect(sim.calls.attempts('DescribeAutoScalingGroups')).to.be.lessThan(MAX_ATTEMPTS);
  });

  it('rides out a short outage through the SDK retries and fails on a long one with InternalFailure', async () => {
    const short = await world({
      faults: { outages: [{ service: 'autoscaling', fromMs: 0, toMs: 300 }] },
    });
    const ok = await settle(short, autoScaling(short).adapter.describeGroups(['web']));
    expect(ok.value).to.have.length(1);
    const long = await world({
      faults: { outages: [{ service: 'autoscaling', fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }] },
    });
    const failed = await settle(long, autoScaling(long).adapter.describeGroups(['web']));
    expect(awsErrorName(failed.error)).to.equal('InternalFailure');
  });

  it('never answers a container that died', async () => {
    const sim = await world();
    const { adapter, container } = autoScaling(sim);
    let answered = false;
    void adapter.describeGroups(['web']).then(() => (answered = true));
    container.kill();
    await sim.runFor(MIN);
    expect(answered).to.equal(false);
  });
});

describe('sim/lambda and delivery', () => {
  it('kills an invocation at the function timeout; nothing it awaits resumes', async () => {
    const stack = await deployed();
    let resumed = false;
    const sim = await world({ gate: {} });
    // A handler that never settles in time: it waits twice the function's timeout.
    sim.gate.options.build = (c) => async () => {
      await new Promise<void>((r) => c.timers.setTimeout(r, stack.gate.timeoutSeconds * 2000));
      resumed = true;
    };
    sim.fleet.scaleIn('web', 1);
    await sim.runFor(10 * MIN);
    const first = sim.gate.invocations[0]!;
    expect(first.result).to.equal('timeout');
    expect(first.endedAt! - first.startedAt).to.be.at.least(stack.gate.timeoutSeconds * 1000);
    expect(resumed).to.equal(false);
    // Lambda retries the asynchronous invocation a minute later.
    expect(sim.gate.invocations[1]!.startedAt - first.endedAt!).to.be.closeTo(60_000, 3000);
  });

  it('retries a failing EventBridge invocation as Lambda does (1 and 2 minutes apart), then dead-letters it', async () => {
    // A handler that always fails (the gate itself now puts a failed first step on the
    // recheck queue, so it would not show Lambda's own retries).
    const stack = await deployed();
    const sim = await world({ gate: {} });
    sim.gate.options.build = () => async () => {
      throw new Error('boom');
    };
    sim.fleet.scaleIn('web', 1);
    await sim.runFor(10 * MIN);
    const invocations = sim.gate.invocations;
    expect(invocations).to.have.length(1 + stack.gate.maximumRetryAttempts);
    invocations.slice(1).forEach((retry, i) => {
      expect(retry.startedAt - invocations[i]!.endedAt!).to.be.closeTo(
        LAMBDA_ASYNC_RETRY_DELAYS_SECONDS[i]! * 1000,
        1000,
      );
    });
    expect(sim.events.deadLetters()).to.have.length(1);
  });

  it('delivers rechecks in batches; a failed batch reappears after the visibility timeout and goes to the DLQ after maxReceiveCount', async () => {
    const stack = await deployed();
    const sim = await world();
    const batches: number[] = [];
    sim.gate.options.build = () => async (event) => {
      batches.push((event as { Records: unknown[] }).Records.length);
      throw new Error('the whole batch fails');
    };
    for (let i = 0; i < stack.gate.batchSize + 3; i++) sim.recheckQueue.send(`{"n":${i}}`, 5);
    await sim.runFor(
      (stack.recheckQueue.maxReceiveCount + 1) *
        stack.recheckQueue.visibilityTimeoutSeconds *
        1000 +
        MIN,
    );
    expect(Math.max(...batches)).to.equal(stack.gate.batchSize);
    expect(batches.reduce((a, b) => a + b, 0)).to.equal(
      (stack.gate.batchSize + 3) * stack.recheckQueue.maxReceiveCount,
    );
    expect(sim.recheckQueue.deadLetters()).to.have.length(stack.gate.batchSize + 3);
  });
});

describe('sim/fleet retention (AWS, "Manage retained instances")', () => {
  const group = (extra: Partial<GroupSpec> = {}): GroupSpec => ({
    name: 'web',
    desired: 2,
    hook: HOOK,
    retainOnAbandon: true,
    ...extra,
  });
  /** Scale in by one and abandon the action it starts. */
  function abandonScaleIn(sim: Simulation) {
    sim.fleet.scaleIn('web', 1);
    const action = sim.fleet.activeActions()[0]!;
    sim.fleet.completeLifecycleAction(
      { groupName: 'web', hookName: HOOK.name, instanceId: action.instanceId, token: action.token },
      'ABANDON',
    );
    return sim.fleet.instance(action.instanceId)!;
  }

  it('keeps an abandoned scale-in in Terminating:Retained, a member that TerminateInstanceInAutoScalingGroup ends', async () => {
    const sim = await world({ groups: [group()] });
    const inst = abandonScaleIn(sim);
    expect(inst.lifecycleState).to.equal(TERMINATING_RETAINED);
    expect(sim.fleet.retentions.map((r) => r.state)).to.deep.equal([TERMINATING_RETAINED]);
    const members = sim.fleet.describeGroups(['web'])[0]!.instances;
    expect(members.find((m) => m.instanceId === inst.id)?.lifecycleState).to.equal(
      TERMINATING_RETAINED,
    );
    expect(sim.fleet.answer(inst.id)).to.equal('IDLE');
    sim.fleet.terminateInstance(inst.id, false);
    expect(inst.lifecycleState).to.equal('Terminating:Proceed');
  });

  it('keeps an abandoned return to the warm pool in Warmed:Pending:Retained: running, not a member, not terminable by the API', async () => {
    const sim = await world({ groups: [group({ warmPool: { reuseOnScaleIn: true } })] });
    const inst = abandonScaleIn(sim);
    expect(inst.lifecycleState).to.equal(WARMED_PENDING_RETAINED);
    expect(sim.fleet.retentions.map((r) => r.state)).to.deep.equal([WARMED_PENDING_RETAINED]);
    expect(sim.fleet.terminations).to.deep.equal([]);
    // Still running (a retained instance is not stopped in the pool): its worker answers.
    expect(sim.fleet.answer(inst.id)).to.equal('IDLE');
    const members = sim.fleet.describeGroups(['web'])[0]!.instances.map((m) => m.instanceId);
    expect(members).to.not.include(inst.id);
    expect(() => sim.fleet.terminateInstance(inst.id, false)).to.throw(/warm pool/);
  });

  it('never retains an abandoned launch: TerminateHookAbandon is the only retention trigger', async () => {
    const sim = await world({
      groups: [group({ desired: 1, launchHook: { ...HOOK, name: 'themis-launch' } })],
    });
    sim.fleet.setDesiredCapacity('web', 2);
    const launch = sim.fleet.activeActions().find((a) => a.transition === LAUNCHING)!;
    sim.fleet.completeLifecycleAction(
      {
        groupName: 'web',
        hookName: 'themis-launch',
        instanceId: launch.instanceId,
        token: launch.token,
      },
      'ABANDON',
    );
    expect(sim.fleet.instance(launch.instanceId)!.lifecycleState).to.equal('Terminating:Proceed');
    expect(sim.fleet.retentions).to.deep.equal([]);
  });
});

describe('sim/deployed', () => {
  it('reads the numbers the stack deploys from serverless.yml and the deploy', async () => {
    const stack = await deployed();
    const doc = readServerlessYml() as { custom: { gate: { timeoutSeconds: number } } };
    expect(stack.gate.timeoutSeconds).to.equal(doc.custom.gate.timeoutSeconds);
    expect(stack.gate.batchSize).to.be.greaterThan(0);
    expect(stack.recheckQueue.visibilityTimeoutSeconds).to.be.greaterThan(0);
    expect(stack.recheckQueue.maxReceiveCount).to.be.greaterThan(0);
    expect(stack.hook.heartbeatTimeoutSeconds).to.be.greaterThan(0);
    expect(stack.gate.env.THEMIS_RECHECK_SECONDS).to.match(/^\d+$/);
  });

  it('refuses a stack the deploy refuses, with the deploy message', async () => {
    let error: unknown;
    try {
      await deployed({ heartbeatTimeout: '31', recheckSeconds: '30' });
    } catch (err) {
      error = err;
    }
    expect(errorMessage(error)).to.match(/param "heartbeatTimeout"/);
  });
});

describe('sim/measure', () => {
  it('holds a busy instance in virtual time, heartbeating, and releases it after its work ends', async () => {
    const sim = await world({
      gate: {},
      work: ({ launchedAt }) =>
        new WorkSchedule([{ startMs: launchedAt, endMs: launchedAt + 12 * MIN }]),
      groups: [{ name: 'web', desired: 1, hook: HOOK }],
    });
    sim.fleet.scaleIn('web', 1);
    await sim.runUntilSettled(3600_000);
    const action = sim.fleet.actions[0]!;
    expect(action.ended?.by).to.equal('completed');
    expect(action.ended!.at - action.startedAt).to.be.within(12 * MIN, 14 * MIN);
    expect(action.heartbeats).to.be.greaterThan(0);
    expect(sim.fleet.terminations[0]!.busy).to.equal(false);
    expect(sim.published.map((p) => p.notice.attributes.event)).to.include('released');
  });
});
