/**
 * The private addresses a warm protect container already knows.
 *
 * An instance's primary private IPv4 address is fixed for the instance's whole life (it
 * survives stop/start; only a new instance gets a new one), so once EC2 has told us an
 * instance's address there is nothing new to learn by asking again. A warm container
 * therefore describes only the instances it has not seen: in steady state a scan makes no
 * DescribeInstances call at all, and an instance that joins costs one description.
 *
 * What is cached: only answers. An instance EC2 did not report an address for (not known
 * yet — eventual consistency — or terminated) is asked about again on the next scan. An
 * instance that left its group is forgotten when that group is next listed without it
 * (`retainGroup`), and the cache never holds more than `maxEntries` (oldest first out), so a
 * container that lives for weeks under churn stays small.
 *
 * A stale entry cannot mislead a decision: addresses are keyed by instance id, and every
 * decision is made for the listed id. If an instance were terminated behind Auto Scaling's
 * back and its address handed to another instance while the group still lists the old id as
 * InService, the probe would reach the newcomer, but the only instance whose protection
 * changes is the old, already terminated one — which Auto Scaling refuses or ignores.
 *
 * Misses are described in batches of the API's limit, a few batches at once per region
 * (`describeConcurrency`, shared by every group scanned concurrently), so a cold container
 * with 1,000 instances waits for about two calls, not five, without bursting the account's
 * EC2 request rate.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { MAX_IDS_PER_CALL } from '../aws/ec2.js';
import { chunk } from '../collections.js';
import type { CallOptions, InstanceAddresses } from '../ports.js';

/** DescribeInstances calls in flight at once per region (EC2's request rate is per account). */
export const DEFAULT_DESCRIBE_CONCURRENCY = 4;
/**
 * Instances remembered per region: ten 1,000-instance fleets' worth, about 1 MB. Past it the
 * oldest entries go first (they are re-described if still needed).
 */
export const DEFAULT_MAX_CACHED_ADDRESSES = 10_000;

export interface AddressCacheOptions {
  describeConcurrency?: number;
  maxEntries?: number;
  /** Ids per DescribeInstances call (default: the API's limit). */
  batchSize?: number;
}

/**
 * One region's cache. Each scanned group reads through its own view (`forGroup`), so that an
 * entry knows its group and `retainGroup` can forget the instances that left it.
 */
export class AddressCache {
  /** Insertion order is age: the first key is the oldest entry. */
  private readonly known = new Map<string, { address: string; group: string }>();
  private readonly limit: LimitFunction;
  private readonly maxEntries: number;
  private readonly batchSize: number;

  constructor(
    private readonly inner: InstanceAddresses,
    options: AddressCacheOptions = {},
  ) {
    this.limit = pLimit(options.describeConcurrency ?? DEFAULT_DESCRIBE_CONCURRENCY);
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_CACHED_ADDRESSES;
    this.batchSize = options.batchSize ?? MAX_IDS_PER_CALL;
  }

  /** How many addresses are remembered. */
  get size(): number {
    return this.known.size;
  }

  /** The InstanceAddresses port for scanning `group`: cached answers first, EC2 for the rest. */
  forGroup(group: string): InstanceAddresses {
    return { privateAddresses: (ids, opts) => this.lookUp(group, ids, opts) };
  }

  /**
   * `group` was just listed with these members: forget its instances that are no longer
   * among them (terminated, detached). Only for a listing that succeeded — an unknown
   * membership forgets nothing.
   */
  retainGroup(group: string, memberIds: Iterable<string>): void {
    const keep = new Set(memberIds);
    for (const [id, entry] of [...this.known]) {
      if (entry.group === group && !keep.has(id)) this.known.delete(id);
    }
  }

  private async lookUp(
    group: string,
    instanceIds: string[],
    opts?: CallOptions,
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(instanceIds)) {
      const entry = this.known.get(id);
      if (entry === undefined) missing.push(id);
      else {
        // An instance moved between groups (detach, attach) now belongs to this one.
        entry.group = group;
        out.set(id, entry.address);
      }
    }
    // A failed batch fails the whole lookup (the scan reports it), but the batches that
    // answered are remembered: the next scan asks only for what is still missing.
    await Promise.all(
      chunk(missing, this.batchSize).map((batch) =>
        this.limit(async () => {
          const found = await this.inner.privateAddresses(batch, opts);
          for (const id of batch) {
            const address = found.get(id);
            if (address === undefined) continue;
            this.remember(id, address, group);
            out.set(id, address);
          }
        }),
      ),
    );
    return out;
  }

  private remember(id: string, address: string, group: string): void {
    this.known.delete(id);
    this.known.set(id, { address, group });
    while (this.known.size > this.maxEntries) {
      const oldest = this.known.keys().next().value;
      if (oldest === undefined) break;
      this.known.delete(oldest);
    }
  }
}
