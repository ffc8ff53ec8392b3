/**
 * The group-tags cache of a gate container (lib/gate/handler.ts cacheGroups): a container's
 * first answer for a group is kept 30–60 s (by `random`), later ones 60 s — so containers
 * started together by one scale-in do not all read their groups again in the same second.
 * Broken variant tried: no jitter (the first answer kept 60 s whatever `random` says).
 */
import { expect } from 'chai';
import { cacheGroups, GROUP_TAGS_TTL_MS } from '../../lib/gate/handler.js';
import { FakeGroups, GROUP } from './fakes.js';

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

  it('keeps the first answer for 30–60 s by random, and later answers the full minute', async () => {
    expect(GROUP_TAGS_TTL_MS).to.equal(60_000);
    // random 0.5: the first answer counts as 15 s old, so it is read again at 45 s.
    expect(await reads(0.5, [0, 44])).to.equal(1);
    expect(await reads(0.5, [0, 45])).to.equal(2);
    // The second answer (read at 45 s) is kept until 105 s.
    expect(await reads(0.5, [0, 45, 104])).to.equal(2);
    expect(await reads(0.5, [0, 45, 105])).to.equal(3);
    // random 0: a whole minute, as before.
    expect(await reads(0, [0, 59])).to.equal(1);
    expect(await reads(0, [0, 60])).to.equal(2);
  });
});
