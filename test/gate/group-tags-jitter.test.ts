/**
 * The group-tags cache of a gate container (lib/gate/handler.ts cacheGroups): a container's
 * first answer for a group is kept ½–1 × GROUP_TAGS_TTL_MS (by `random`), later ones the whole
 * TTL — so containers started together by one scale-in do not all read their groups again in
 * the same second — and no answer is ever used once it is GROUP_TAGS_TTL_MS old.
 * Broken variants tried, each caught here: no jitter (the first answer kept the whole TTL
 * whatever `random` says); the TTL ignored (an answer kept for ever); a group not found kept
 * like a found one; a failed call kept; forget() doing nothing.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { cacheGroups, forgetOnWrite, GROUP_TAGS_TTL_MS } from '../../lib/gate/handler.js';
import type { GroupSnapshot } from '../../lib/ports.js';
import { awsError, FakeGroups, GROUP } from './fakes.js';

const TTL_S = GROUP_TAGS_TTL_MS / 1000;

describe('gate: group tags kept by a container', () => {
  const reads = async (random: number, atSeconds: number[]) => {
    const groups = new FakeGroups();
    const store = new Map();
    let now = 0;
    for (const at of atSeconds) {
      now = at * 1000;
      // One invocation each: a fresh per-invocation cache over the container's store.
      await cacheGroups(groups, { store, clock: () => now, random: () => random }).describeGroups([
        GROUP,
      ]);
    }
    return groups.describeCalls.length;
  };

  it('re-reads tags every ten minutes: the documented reaction time to a tag change', () => {
    // docs/gate.md and docs/bench.md state this figure (issue 10: calls per hour of hold).
    expect(GROUP_TAGS_TTL_MS).to.equal(600_000);
  });

  it('keeps the first answer for ½–1 TTL by random, and later answers the whole TTL', async () => {
    // random 0.5: the first answer counts as ¼ TTL old, so it is read again at ¾ TTL.
    expect(await reads(0.5, [0, 0.75 * TTL_S - 1])).to.equal(1);
    expect(await reads(0.5, [0, 0.75 * TTL_S])).to.equal(2);
    // The second answer (read at ¾ TTL) is kept until 1¾ TTL.
    expect(await reads(0.5, [0, 0.75 * TTL_S, 1.75 * TTL_S - 1])).to.equal(2);
    expect(await reads(0.5, [0, 0.75 * TTL_S, 1.75 * TTL_S])).to.equal(3);
    // random 0: the whole TTL.
    expect(await reads(0, [0, TTL_S - 1])).to.equal(1);
    expect(await reads(0, [0, TTL_S])).to.equal(2);
  });

  it('never answers from a read GROUP_TAGS_TTL_MS old or older, whatever the times and the jitter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 2 * GROUP_TAGS_TTL_MS }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        async (gapsMs, random) => {
          let now = 0;
          const readAt: number[] = [];
          // Each answer names the read it came from, so its age can be told.
          const groups = {
            async describeGroups(names: string[]): Promise<GroupSnapshot[]> {
              readAt.push(now);
              return names.map((name) => ({
                name,
                instances: [],
                tags: { read: String(readAt.length - 1) },
              }));
            },
            findGroupsByTag: async () => [],
          };
          const store = new Map();
          for (const gap of gapsMs) {
            now += gap;
            const [group] = await cacheGroups(groups, {
              store,
              clock: () => now,
              random: () => random,
            }).describeGroups([GROUP]);
            expect(now - readAt[Number(group!.tags.read)]!).to.be.below(GROUP_TAGS_TTL_MS);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('asks again in the next invocation for a group that was not found', async () => {
    const groups = new FakeGroups();
    groups.tags.delete(GROUP);
    const store = new Map();
    const known = { store, clock: () => 0, random: () => 0 };
    expect(await cacheGroups(groups, known).describeGroups([GROUP])).to.deep.equal([]);
    groups.tags.set(GROUP, { 'themis:dry-run': 'true' });
    const [found] = await cacheGroups(groups, known).describeGroups([GROUP]);
    expect(found?.tags).to.deep.equal({ 'themis:dry-run': 'true' });
    expect(groups.describeCalls).to.have.length(2);
  });

  it('asks again after a failed call, in the same invocation and the next', async () => {
    const groups = new FakeGroups();
    groups.fail = awsError('Throttling', 'Rate exceeded', 'DescribeAutoScalingGroups');
    const known = { store: new Map(), clock: () => 0, random: () => 0 };
    const invocation = cacheGroups(groups, known);
    for (const cache of [invocation, invocation, cacheGroups(groups, known)]) {
      const err = await cache.describeGroups([GROUP]).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error);
    }
    delete groups.fail;
    expect(await cacheGroups(groups, known).describeGroups([GROUP])).to.have.length(1);
    expect(groups.describeCalls).to.have.length(4);
  });

  it('reads a group again after the container wrote one of its tags, even when the write failed', async () => {
    const groups = new FakeGroups();
    const known = { store: new Map(), clock: () => 0, random: () => 0 };
    const writes: string[] = [];
    let failWrite = false;
    const writer = {
      async setTag(group: string, key: string, value: string | undefined) {
        writes.push(`${key}=${value}`);
        if (failWrite) throw awsError('Throttling', 'Rate exceeded', 'CreateOrUpdateTags');
        groups.tags.set(group, { ...groups.tags.get(group), ...(value ? { [key]: value } : {}) });
      },
    };
    const invocation = cacheGroups(groups, known);
    await invocation.describeGroups([GROUP]);
    await forgetOnWrite(writer, invocation).setTag(GROUP, 'themis:launch-abandons', '1 x');
    // The same invocation and the next both see what was written.
    const [same] = await invocation.describeGroups([GROUP]);
    expect(same?.tags['themis:launch-abandons']).to.equal('1 x');
    await cacheGroups(groups, known).describeGroups([GROUP]);
    expect(groups.describeCalls).to.have.length(2);

    failWrite = true;
    const next = cacheGroups(groups, known);
    const err = await forgetOnWrite(writer, next)
      .setTag(GROUP, 'themis:launch-abandons', '2 x')
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    await cacheGroups(groups, known).describeGroups([GROUP]);
    expect(groups.describeCalls).to.have.length(3);
    expect(writes).to.have.length(2);
  });
});
