/**
 * A gate container's DescribeLifecycleHooks answers (lib/gate/handler.ts cacheHooks): reused
 * by the first steps of one scale-in, never once HOOK_TIMING_TTL_MS has passed since the call
 * was sent (a hook shortened just before a scale-in must not be held on its old timing for
 * longer), and a missing hook or a failed call is never reused.
 * Broken variants tried, each caught here: the bound ignored (an answer kept for ever); the
 * age counted from the answer instead of the call (a slow answer kept too long); a missing
 * hook kept; a failed call kept; a hung call awaited by a later invocation.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { cacheHooks, HOOK_TIMING_TTL_MS } from '../../lib/gate/handler.js';
import type { HookInfo } from '../../lib/ports.js';
import { awsError, FakeLifecycle, GROUP, HOOK } from './fakes.js';

describe('gate: hook timing kept by a container', () => {
  it('bounds the reuse at twenty seconds: one scale-in, not the next deploy', () => {
    // docs/gate.md states this figure and the hazard it bounds.
    expect(HOOK_TIMING_TTL_MS).to.equal(20_000);
  });

  it("reuses a hook's answer across invocations until HOOK_TIMING_TTL_MS after its call, then asks again", async () => {
    const lifecycle = new FakeLifecycle(1800);
    let now = 0;
    const known = { store: new Map(), clock: () => now };
    const first = await cacheHooks(lifecycle, known)(GROUP, HOOK);
    expect(first?.heartbeatTimeoutSeconds).to.equal(1800);
    // The hook is shortened: within the bound the old timing is still reused …
    lifecycle.addHook(GROUP, HOOK, 300);
    now = HOOK_TIMING_TTL_MS - 1;
    expect((await cacheHooks(lifecycle, known)(GROUP, HOOK))?.heartbeatTimeoutSeconds).to.equal(
      1800,
    );
    expect(lifecycle.describeCalls).to.equal(1);
    // … and not a millisecond longer.
    now = HOOK_TIMING_TTL_MS;
    expect((await cacheHooks(lifecycle, known)(GROUP, HOOK))?.heartbeatTimeoutSeconds).to.equal(
      300,
    );
    expect(lifecycle.describeCalls).to.equal(2);
  });

  it('never hands out an answer whose call was sent HOOK_TIMING_TTL_MS ago or more, however slow the answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 2 * HOOK_TIMING_TTL_MS }),
            // How long the call takes when one is made (the clock moves meanwhile).
            latencyMs: fc.integer({ min: 0, max: HOOK_TIMING_TTL_MS }),
            newInvocation: fc.boolean(),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (steps) => {
          let now = 0;
          let latencyMs = 0;
          const sentAt: number[] = [];
          const lifecycle = {
            async describeHook(groupName: string, hookName: string): Promise<HookInfo> {
              sentAt.push(now);
              const call = sentAt.length - 1;
              now += latencyMs;
              return {
                groupName,
                hookName,
                transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
                // Names the call it came from, so its age can be told.
                heartbeatTimeoutSeconds: call,
                globalTimeoutSeconds: 172_800,
                defaultResult: 'CONTINUE',
              };
            },
          };
          const known = { store: new Map(), clock: () => now };
          let describe = cacheHooks(lifecycle, known);
          for (const step of steps) {
            now += step.gapMs;
            latencyMs = step.latencyMs;
            if (step.newInvocation) describe = cacheHooks(lifecycle, known);
            const calls = sentAt.length;
            const askedAt = now;
            const hook = await describe(GROUP, HOOK);
            // An answer this caller waited for is as fresh as any; a reused one is bounded.
            if (sentAt.length === calls) {
              expect(askedAt - sentAt[hook!.heartbeatTimeoutSeconds]!).to.be.below(
                HOOK_TIMING_TTL_MS,
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('asks again for a hook that was not found, in the same invocation and the next', async () => {
    const lifecycle = new FakeLifecycle();
    lifecycle.hooks.clear();
    const known = { store: new Map(), clock: () => 0 };
    const invocation = cacheHooks(lifecycle, known);
    expect(await invocation(GROUP, HOOK)).to.equal(undefined);
    expect(await invocation(GROUP, HOOK)).to.equal(undefined);
    lifecycle.addHook(GROUP, HOOK, 600);
    expect((await cacheHooks(lifecycle, known)(GROUP, HOOK))?.heartbeatTimeoutSeconds).to.equal(
      600,
    );
    expect(lifecycle.describeCalls).to.equal(3);
  });

  it('asks again after a failed call, in the same invocation and the next', async () => {
    const lifecycle = new FakeLifecycle();
    const describe = lifecycle.describeHook.bind(lifecycle);
    let fail = true;
    lifecycle.describeHook = async (group, hook) => {
      if (!fail) return describe(group, hook);
      lifecycle.describeCalls++;
      throw awsError('Throttling', 'Rate exceeded', 'DescribeLifecycleHooks');
    };
    const known = { store: new Map(), clock: () => 0 };
    const invocation = cacheHooks(lifecycle, known);
    for (const ask of [invocation, invocation, cacheHooks(lifecycle, known)]) {
      expect(await ask(GROUP, HOOK).catch((e: unknown) => e)).to.be.instanceOf(Error);
    }
    fail = false;
    expect(await cacheHooks(lifecycle, known)(GROUP, HOOK)).to.not.equal(undefined);
    expect(lifecycle.describeCalls).to.equal(4);
  });

  it('shares a call in flight within one invocation, but a later invocation never waits on a hung one', async () => {
    const lifecycle = new FakeLifecycle();
    lifecycle.hangDescribe = true;
    const known = { store: new Map(), clock: () => 0 };
    const invocation = cacheHooks(lifecycle, known);
    void invocation(GROUP, HOOK);
    void invocation(GROUP, HOOK);
    expect(lifecycle.describeCalls).to.equal(1);
    lifecycle.hangDescribe = false;
    expect(await cacheHooks(lifecycle, known)(GROUP, HOOK)).to.not.equal(undefined);
    expect(lifecycle.describeCalls).to.equal(2);
  });
});
