/**
 * The launch-readiness gate and the warm pool passages through a whole gate step: the fakes
 * of test/gate/fakes.ts for AWS, a real loopback HTTP worker for the probe, and AWS's
 * documented example events (test/fixtures/aws-lifecycle-events.ts) re-addressed to this
 * world's group, hook and instance.
 */
import { expect } from 'chai';
import { LAUNCH_ABANDONS_TAG, LAUNCH_GATE_TAG } from '../../lib/gate/launch.js';
import { gateStep, type StepOutcome } from '../../lib/gate/step.js';
import type { ContainerInstance, GroupTagWriter } from '../../lib/ports.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL,
  WARM_POOL_EXAMPLE_2_LEAVE_POOL,
  WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP,
  WARM_POOL_EXAMPLE_4_RETURN_TO_POOL,
} from '../fixtures/aws-lifecycle-events.js';
import { GROUP, HOOK, INSTANCE, makeWorld, TOKEN, type World } from './fakes.js';

const LAUNCH_HOOK = 'themis-launch';
const BOOTING = { kind: 'answer', status: 503, body: 'starting' } as const;
const IDLE = { kind: 'answer', body: 'IDLE' } as const;
const BUSY = { kind: 'answer', body: 'BUSY' } as const;

type AwsExample = { time: string; detail: Record<string, string> };

/** AWS's example event, addressed to this world (token, group, hook, instance, time). */
function inWorld(example: AwsExample, hook: string) {
  return {
    ...example,
    time: '2024-05-01T12:00:00Z',
    detail: {
      ...example.detail,
      LifecycleActionToken: TOKEN,
      AutoScalingGroupName: GROUP,
      LifecycleHookName: hook,
      EC2InstanceId: INSTANCE,
    },
  };
}

class FakeGroupTags implements GroupTagWriter {
  readonly calls: Array<{ group: string; key: string; value: string | undefined }> = [];
  fail?: Error;
  constructor(private readonly world: World) {}
  async setTag(group: string, key: string, value: string | undefined): Promise<void> {
    this.calls.push({ group, key, value });
    if (this.fail) throw this.fail;
    const tags = { ...this.world.groups.tags.get(group) };
    if (value === undefined) delete tags[key];
    else tags[key] = value;
    this.world.groups.tags.set(group, tags);
  }
}

describe('gate step: launches and warm pools', () => {
  let worker: Worker;
  let world: World;
  let tags: FakeGroupTags;

  function setUp(groupTags: Record<string, string> = { [LAUNCH_GATE_TAG]: 'true' }, env = {}) {
    world = makeWorld({
      env: {
        THEMIS_METRICS_PORT: String(worker.port),
        THEMIS_LAUNCH_HOOK_NAME: LAUNCH_HOOK,
        THEMIS_LAUNCH_MAX_WAIT_SECONDS: '600',
        ...env,
      },
    });
    world.lifecycle.addHook(GROUP, LAUNCH_HOOK, 300);
    world.groups.addresses.set(INSTANCE, worker.address);
    world.groups.tags.set(GROUP, groupTags);
    tags = new FakeGroupTags(world);
    world.deps = { ...world.deps, groupTags: tags };
  }

  async function deliverRecheck(): Promise<StepOutcome> {
    const last = world.rechecks.scheduled.at(-1);
    if (!last) throw new Error('nothing scheduled');
    world.clock.advance(last.delaySeconds);
    return gateStep(last.body, world.deps);
  }

  /** Steps until the chain ends (no new recheck), at most `max`. */
  async function runChain(first: unknown, max = 200): Promise<StepOutcome> {
    let outcome = await gateStep(first, world.deps);
    for (let i = 0; i < max && outcome.outcome === 'held'; i++) outcome = await deliverRecheck();
    return outcome;
  }

  beforeEach(async () => {
    worker = await startWorker(BOOTING);
  });
  afterEach(async () => {
    await worker.close();
  });

  describe('the launch-readiness gate (tag themis:launch-gate=true)', () => {
    it('holds a launch in Pending:Wait while its worker does not answer, with no notice', async () => {
      setUp();
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'held', decision: 'hold' });
      expect(outcome.reason).to.match(/not ready yet \(HTTP 503/);
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(world.notifications.published).to.deep.equal([]);
      const recheck = world.rechecks.last() as { action: { transition: string } };
      expect(recheck.action.transition).to.equal('autoscaling:EC2_INSTANCE_LAUNCHING');
    });

    it('completes with CONTINUE once the worker answers, and says so', async () => {
      setUp();
      await gateStep(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK), world.deps);
      await deliverRecheck();
      worker.set(IDLE);
      const outcome = await deliverRecheck();
      expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(world.lifecycle.completions.map((c) => [c.ref.hookName, c.result])).to.deep.equal([
        [LAUNCH_HOOK, 'CONTINUE'],
      ]);
      expect(world.notifications.events()).to.deep.equal(['launch-ready']);
      expect(world.notifications.published[0]!.subject).to.match(
        /let launch of i-0abc\S+ in Electric-Ziggurat go on/,
      );
    });

    it('takes a BUSY answer as ready too (the worker is up)', async () => {
      setUp();
      worker.set(BUSY);
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
    });

    it('abandons a launch that never answers at the deadline, with a warning and a count', async () => {
      setUp();
      const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      expect(outcome).to.include({ outcome: 'completed', result: 'ABANDON', decision: 'deadline' });
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['ABANDON']);
      expect(world.notifications.events()).to.deep.equal(['launch-abandoned']);
      expect(world.notifications.published[0]!.subject).to.match(
        /^themis: WARNING abandoned launch/,
      );
      expect(tags.calls).to.have.length(1);
      expect(tags.calls[0]).to.include({ group: GROUP, key: LAUNCH_ABANDONS_TAG });
      expect(tags.calls[0]!.value).to.match(/^1 2024-05-01T12:1\d:\d\d/);
    });

    it('says a replacement loop is likely when the third launch in a row is abandoned', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', [LAUNCH_ABANDONS_TAG]: '2 2024-05-01T11:40:00.000Z' });
      await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      const notice = world.notifications.published[0]!;
      expect(notice.subject).to.match(/\(3 in a row\)/);
      expect(notice.message).to.match(/launch 3 in a row that themis abandoned/);
      expect(notice.message).to.match(/previous one at 2024-05-01T11:40:00.000Z/);
      expect(notice.message).to.match(/replacement loop is likely/);
      expect(world.groups.tags.get(GROUP)![LAUNCH_ABANDONS_TAG]).to.match(/^3 /);
    });

    it('clears the count once a launch is ready again', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', [LAUNCH_ABANDONS_TAG]: '4 2024-05-01T11:40:00.000Z' });
      worker.set(IDLE);
      await gateStep(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK), world.deps);
      expect(tags.calls).to.deep.equal([
        { group: GROUP, key: LAUNCH_ABANDONS_TAG, value: undefined },
      ]);
    });

    it('abandons a launch on a group that retains abandoned terminations as a plain abandon', async () => {
      // Retention (InstanceLifecyclePolicy) applies to terminate hooks only: a launch's ABANDON
      // terminates the instance, so the notice must not say "retained".
      setUp();
      const listed = world.groups.describeGroups.bind(world.groups);
      world.groups.describeGroups = async (names) =>
        (await listed(names)).map((g) => ({ ...g, retainsOnAbandon: true }));
      const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      expect(outcome).to.include({ outcome: 'completed', result: 'ABANDON' });
      expect(world.notifications.events()).to.deep.equal(['launch-abandoned']);
    });

    it('still completes and notifies when the count cannot be written', async () => {
      setUp();
      tags.fail = new Error('AccessDenied');
      const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      expect(outcome).to.include({ outcome: 'completed', result: 'ABANDON' });
      expect(world.notifications.events()).to.deep.equal(['launch-abandoned']);
      expect(
        world.log.lines.some((l) => l.message === 'launch abandon count not recorded'),
      ).to.equal(true);
    });

    it('readiness-gates a launch into the warm pool (AWS Example 1) and names it', async () => {
      setUp();
      await gateStep(inWorld(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL, LAUNCH_HOOK), world.deps);
      expect(world.lifecycle.completions).to.deep.equal([]);
      worker.set(IDLE);
      await deliverRecheck();
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
      expect(world.notifications.published[0]!.subject).to.match(/\(into warm pool\)/);
      expect(world.notifications.published[0]!.message).to.match(/let into the warm pool/);
    });

    it('in ECS mode, is ready once the instance is an ACTIVE container instance', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', 'themis:ecs-cluster': 'render' });
      const registration: { status?: string } = {};
      const ecs = {
        async containerInstances(): Promise<ContainerInstance[]> {
          const { status } = registration;
          return status
            ? [{ status, ec2InstanceId: INSTANCE } as unknown as ContainerInstance]
            : [];
        },
      };
      world.deps = { ...world.deps, ecs: ecs as unknown as NonNullable<World['deps']['ecs']> };
      const first = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(first.reason).to.match(/not registered in the cluster yet/);
      registration.status = 'ACTIVE';
      const ready = await deliverRecheck();
      expect(ready).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(worker.requests).to.deep.equal([]);
    });

    /** An ECS client whose every call fails with `error` (the SDK's error shape). */
    function failingEcs(name: string, fault: 'client' | 'server', httpStatusCode: number) {
      const calls: string[] = [];
      const ecs = {
        async containerInstances(): Promise<ContainerInstance[]> {
          calls.push('containerInstances');
          throw Object.assign(new Error(`${name}: refused by the fake`), {
            name,
            $fault: fault,
            $metadata: { httpStatusCode },
          });
        },
      };
      world.deps = { ...world.deps, ecs: ecs as unknown as NonNullable<World['deps']['ecs']> };
      return calls;
    }

    // Broken variant caught: ecsLaunchReadiness without `setupFailure` (every ECS error "not
    // yet") holds until the deadline and abandons — a replacement loop from one missing
    // permission; this test then sees ABANDON and 'launch-abandoned'.
    it('in ECS mode, lets a launch in unchecked, with a warning, when ECS refuses on every step', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', 'themis:ecs-cluster': 'render' });
      const calls = failingEcs('AccessDeniedException', 'client', 400);
      const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      expect(outcome).to.include({
        outcome: 'completed',
        result: 'CONTINUE',
        decision: 'release-unreachable',
      });
      expect(calls).to.have.length(3); // THEMIS_UNKNOWN_LIMIT's default
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
      expect(world.notifications.events()).to.deep.equal(['launch-unchecked']);
      const notice = world.notifications.published[0]!;
      expect(notice.subject).to.match(/^themis: WARNING let launch of .* go on UNCHECKED/);
      expect(notice.message).to.match(/AccessDeniedException/);
      expect(notice.message).to.match(/abandoning would replace every launch/);
      expect(tags.calls).to.deep.equal([]); // not an abandon: no streak to count or clear
    });

    // Broken variant caught: counting throttling as a refusal lets this launch in unchecked
    // after three steps instead of waiting.
    it('in ECS mode, keeps waiting through throttling (it passes) and abandons only at the deadline', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', 'themis:ecs-cluster': 'render' });
      const calls = failingEcs('ThrottlingException', 'client', 400);
      const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
      expect(outcome).to.include({ outcome: 'completed', result: 'ABANDON', decision: 'deadline' });
      expect(calls.length).to.be.greaterThan(10);
      expect(world.notifications.events()).to.deep.equal(['launch-abandoned']);
    });

    // AWS's ECS warm-pool setup (ECS_WARM_POOLS_CHECK=true) keeps the agent from registering
    // while the instance is in the pool: gated on ACTIVE, every launch into the pool was
    // abandoned at the deadline and replaced, for ever. Broken variant caught: ECS readiness
    // asked of every launch passage (the step before the fix) — this test then holds.
    it('in ECS mode, lets a launch into the warm pool in at once; leaving the pool still waits for ACTIVE', async () => {
      setUp({ [LAUNCH_GATE_TAG]: 'true', 'themis:ecs-cluster': 'render' });
      const registration: { status?: string } = {};
      let asked = 0;
      const ecs = {
        async containerInstances(): Promise<ContainerInstance[]> {
          asked++;
          const { status } = registration;
          return status
            ? [{ status, ec2InstanceId: INSTANCE } as unknown as ContainerInstance]
            : [];
        },
      };
      world.deps = { ...world.deps, ecs: ecs as unknown as NonNullable<World['deps']['ecs']> };

      const intoPool = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL, LAUNCH_HOOK),
        world.deps,
      );
      expect(intoPool).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(intoPool.reason).to.match(/launch into the warm pool is not gated/);
      expect(asked).to.equal(0);
      expect(world.rechecks.scheduled).to.deep.equal([]);

      // Later, the same instance leaves the pool: a new action, with its own token.
      const leavePool = inWorld(WARM_POOL_EXAMPLE_2_LEAVE_POOL, LAUNCH_HOOK);
      leavePool.detail.LifecycleActionToken = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';
      world.lifecycle.ended = false; // the fake has one action at a time: this one is open
      const leaving = await gateStep(leavePool, world.deps);
      expect(leaving).to.include({ outcome: 'held' });
      expect(leaving.reason).to.match(/not registered in the cluster yet/);
      registration.status = 'ACTIVE';
      expect(await deliverRecheck()).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal([
        'CONTINUE',
        'CONTINUE',
      ]);
    });

    it('in ECS mode, only says it would let a launch into the warm pool in during a dry run', async () => {
      setUp({
        [LAUNCH_GATE_TAG]: 'true',
        'themis:ecs-cluster': 'render',
        'themis:dry-run': 'true',
      });
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_1_LAUNCH_INTO_POOL, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'observed', result: 'CONTINUE', dryRun: true });
      expect(world.lifecycle.completions).to.deep.equal([]);
    });
  });

  // The "a first step this old may be a retry of a live one" rule protects a busy instance
  // from a termination. Applied to a launch it made a dry-run stage go live and ABANDON the
  // launch at the deadline. Broken variant caught: the rule applied to every first step.
  it('keeps a launch first step that may be a retry in dry run: it never abandons the launch', async () => {
    setUp({ [LAUNCH_GATE_TAG]: 'true', 'themis:dry-run': 'true' });
    world.clock.advance(61); // as old as Lambda's first retry of the event
    const outcome = await runChain(inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK));
    expect(outcome.dryRun).to.equal(true);
    expect(world.lifecycle.completions).to.deep.equal([]);
    expect(world.lifecycle.heartbeats).to.deep.equal([]);
    expect(world.log.lines.some((l) => l.message.startsWith('dry run not applied'))).to.equal(
      false,
    );
  });

  it('says the launch went on, not a termination, when its hook is gone', async () => {
    setUp();
    world.lifecycle.hooks.delete(`${GROUP}/${LAUNCH_HOOK}`);
    const outcome = await gateStep(
      inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
      world.deps,
    );
    expect(outcome).to.include({ outcome: 'gone', cause: 'hook-deleted' });
    const notice = world.notifications.published[0]!;
    expect(notice.message).to.match(/Auto Scaling went on with the launch\./);
    expect(notice.message).to.not.match(/termination/);
  });

  describe('launches the gate does not hold', () => {
    it("completes themis's launch hook with CONTINUE at once on a group without the tag", async () => {
      setUp({});
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(worker.requests).to.deep.equal([]);
      expect(world.notifications.published).to.deep.equal([]);
      expect(world.rechecks.scheduled).to.deep.equal([]);
    });

    it('only says what it would do in a dry run', async () => {
      setUp({ 'themis:dry-run': 'true' });
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'observed' });
      expect(world.lifecycle.completions).to.deep.equal([]);
    });

    // Found by the property test (a timing variant of seed 2426): a first step failed to
    // complete during a throttling storm, the queue redelivered it 8 min later, now in a dry
    // run — it only observed, and the launch waited for its hook's timeout with no outcome.
    // Broken variant caught: continueUngatedLaunch given settings.dryRun (no completion).
    it('lets the launch in, live, when a dry run first step may be the retry of a live one', async () => {
      setUp({ 'themis:dry-run': 'true' });
      world.clock.advance(8 * 60); // the event is 8 min old: an earlier attempt may have failed
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, LAUNCH_HOOK),
        world.deps,
      );
      expect(outcome).to.include({ outcome: 'completed', result: 'CONTINUE' });
      expect(world.lifecycle.completions.map((c) => c.result)).to.deep.equal(['CONTINUE']);
    });

    it("leaves another tool's launch hook alone, even on a tagged group", async () => {
      setUp();
      const outcome = await gateStep(
        inWorld(WARM_POOL_EXAMPLE_3_LAUNCH_INTO_GROUP, 'bootstrap'),
        world.deps,
      );
      expect(outcome.outcome).to.equal('ignored');
      expect(outcome.reason).to.match(/not themis's launch hook/);
      expect(world.lifecycle.completions).to.deep.equal([]);
      expect(world.lifecycle.describeCalls).to.equal(0);
    });
  });

  describe('an instance returning to the warm pool (ReuseOnScaleIn, AWS Example 4)', () => {
    it('is held while busy like a termination, and named as returning to the pool', async () => {
      setUp({});
      worker.set(BUSY);
      const held = await gateStep(inWorld(WARM_POOL_EXAMPLE_4_RETURN_TO_POOL, HOOK), world.deps);
      expect(held).to.include({ outcome: 'held', decision: 'hold' });
      expect(world.notifications.published[0]!.message).to.match(
        /is returning to the warm pool .* holding it in Warmed:Pending:Wait/,
      );
      worker.set(IDLE);
      const released = await deliverRecheck();
      expect(released).to.include({ outcome: 'completed', result: 'CONTINUE' });
      const notice = world.notifications.published.at(-1)!;
      expect(notice.attributes.event).to.equal('released');
      expect(notice.subject).to.match(/\(returns to warm pool\)/);
      expect(notice.message).to.match(
        /released for return to the warm pool \(it is not terminated\)/,
      );
      expect(notice.message).to.not.match(/terminated after|for termination/);
      const recheck = world.rechecks.last() as { action: Record<string, string> };
      expect(recheck.action).to.include({ origin: 'AutoScalingGroup', destination: 'WarmPool' });
    });
  });
});
