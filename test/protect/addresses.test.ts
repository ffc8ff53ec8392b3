/**
 * The warm container's address cache (lib/protect/addresses.ts) over a recording stand-in
 * for DescribeInstances. Broken variants tried while writing these (each made a test here
 * fail): caching nothing (every lookup asks again), caching misses, retainGroup deleting
 * nothing, retainGroup deleting other groups' entries, an unbounded pLimit, no size bound.
 */
import { expect } from 'chai';
import type { InstanceAddresses } from '../../lib/ports.js';
import {
  AddressCache,
  DEFAULT_DESCRIBE_CONCURRENCY,
  DEFAULT_MAX_CACHED_ADDRESSES,
} from '../../lib/protect/addresses.js';

/** EC2 as far as addresses go: records every call and how many were in flight at once. */
class RecordingEc2 implements InstanceAddresses {
  readonly calls: string[][] = [];
  readonly known = new Map<string, string>();
  inFlight = 0;
  mostInFlight = 0;
  /** Throw for a call whose ids include this one. */
  failFor?: string;

  add(count: number, prefix = 'i-', from = 0): string[] {
    return Array.from({ length: count }, (_, k) => {
      const n = from + k;
      const id = `${prefix}${String(n).padStart(8, '0')}`;
      this.known.set(id, `127.0.${20 + Math.floor(n / 250)}.${1 + (n % 250)}`);
      return id;
    });
  }

  async privateAddresses(ids: string[]): Promise<Map<string, string>> {
    this.calls.push([...ids]);
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      // A real call takes a while: let the others start meanwhile.
      await new Promise((r) => setTimeout(r, 5));
      if (this.failFor && ids.includes(this.failFor)) throw new Error('DescribeInstances failed');
      return new Map(ids.flatMap((id) => (this.known.has(id) ? [[id, this.known.get(id)!]] : [])));
    } finally {
      this.inFlight--;
    }
  }
}

describe('protect/addresses', () => {
  let ec2: RecordingEc2;
  let cache: AddressCache;

  beforeEach(() => {
    ec2 = new RecordingEc2();
    cache = new AddressCache(ec2);
  });

  it('answers a second lookup of the same instances without calling EC2', async () => {
    const ids = ec2.add(1000);
    const first = await cache.forGroup('workers').privateAddresses(ids);
    const callsAfterFirst = ec2.calls.length;
    const second = await cache.forGroup('workers').privateAddresses(ids);
    expect(callsAfterFirst).to.equal(5); // 1,000 ids, 200 a call
    expect(ec2.calls.length).to.equal(5);
    expect([...second]).to.deep.equal([...first]);
    expect(second.size).to.equal(1000);
  });

  it('describes an instance that joined once, and only that instance', async () => {
    const ids = ec2.add(10);
    await cache.forGroup('workers').privateAddresses(ids);
    const [joined] = ec2.add(1, 'i-', 10);
    const withNew = [...ids, joined!];
    const out = await cache.forGroup('workers').privateAddresses(withNew);
    await cache.forGroup('workers').privateAddresses(withNew);
    expect(ec2.calls).to.have.length(2);
    expect(ec2.calls[1]).to.deep.equal([joined]);
    expect(out.get(joined!)).to.equal(ec2.known.get(joined!));
  });

  it('asks again for an instance EC2 did not report (not known yet, or no address)', async () => {
    const ids = ec2.add(3);
    const early = 'i-not-yet-known';
    const first = await cache.forGroup('workers').privateAddresses([...ids, early]);
    expect(first.has(early)).to.equal(false);
    ec2.known.set(early, '127.0.30.1');
    const second = await cache.forGroup('workers').privateAddresses([...ids, early]);
    expect(ec2.calls[1]).to.deep.equal([early]);
    expect(second.get(early)).to.equal('127.0.30.1');
  });

  it("forgets an instance that left its group, and keeps other groups' instances", async () => {
    const [stays, leaves] = ec2.add(2);
    const [elsewhere] = ec2.add(1, 'i-', 2);
    await cache.forGroup('workers').privateAddresses([stays!, leaves!]);
    await cache.forGroup('others').privateAddresses([elsewhere!]);
    expect(cache.size).to.equal(3);

    cache.retainGroup('workers', [stays!]);
    expect(cache.size).to.equal(2);
    const calls = ec2.calls.length;
    // Back again (re-attached): described anew; the others were kept.
    await cache.forGroup('workers').privateAddresses([stays!, leaves!]);
    await cache.forGroup('others').privateAddresses([elsewhere!]);
    expect(ec2.calls.slice(calls)).to.deep.equal([[leaves]]);
  });

  it('forgets every instance of a group listed with no members', async () => {
    const ids = ec2.add(4);
    await cache.forGroup('workers').privateAddresses(ids);
    cache.retainGroup('workers', []);
    expect(cache.size).to.equal(0);
  });

  it(`describes the misses of concurrent groups at most ${DEFAULT_DESCRIBE_CONCURRENCY} calls at a time, several at once`, async () => {
    const a = ec2.add(1000, 'i-a');
    const b = ec2.add(600, 'i-b', 1000);
    const [outA, outB] = await Promise.all([
      cache.forGroup('a').privateAddresses(a),
      cache.forGroup('b').privateAddresses(b),
    ]);
    expect(outA.size).to.equal(1000);
    expect(outB.size).to.equal(600);
    expect(ec2.calls).to.have.length(8);
    expect(ec2.calls.every((c) => c.length <= 200)).to.equal(true);
    expect(ec2.mostInFlight).to.equal(DEFAULT_DESCRIBE_CONCURRENCY);
  });

  it('remembers the batches that answered when another batch fails, and asks only for the rest', async () => {
    const ids = ec2.add(400);
    ec2.failFor = ids[300];
    let failed: unknown;
    await cache
      .forGroup('workers')
      .privateAddresses(ids)
      .catch((err: unknown) => (failed = err));
    expect(failed).to.be.instanceOf(Error);
    ec2.failFor = undefined;
    const calls = ec2.calls.length;
    const out = await cache.forGroup('workers').privateAddresses(ids);
    expect(out.size).to.equal(400);
    expect(ec2.calls.slice(calls)).to.deep.equal([ids.slice(200)]);
  });

  it('never holds more than its bound: the oldest entries go first', async () => {
    const small = new AddressCache(ec2, { maxEntries: 3, batchSize: 1 });
    const ids = ec2.add(5);
    for (const id of ids) await small.forGroup('workers').privateAddresses([id]);
    expect(small.size).to.equal(3);
    const calls = ec2.calls.length;
    await small.forGroup('workers').privateAddresses(ids.slice(2));
    expect(ec2.calls.length).to.equal(calls); // the newest three are still there
    await small.forGroup('workers').privateAddresses([ids[0]!]);
    expect(ec2.calls.length).to.equal(calls + 1);
    expect(DEFAULT_MAX_CACHED_ADDRESSES).to.be.at.least(1000);
  });
});
