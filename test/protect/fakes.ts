/**
 * In-memory stand-ins for the AWS ports, for lib/protect unit tests. They hold only state
 * and record calls; the decisions under test are all in lib/protect.
 */
import { UpstreamError } from '../../lib/errors.js';
import type {
  GroupDirectory,
  GroupInstance,
  GroupSnapshot,
  InstanceAddresses,
  InstanceProtection,
} from '../../lib/ports.js';

export interface FakeMember extends GroupInstance {
  address?: string;
}

export interface ProtectionCall {
  groupName: string;
  instanceIds: string[];
  protect: boolean;
}

/** An AWS-shaped error wrapped the way the adapters wrap SDK failures. */
export function awsError(name: string, message: string, operation = 'SetInstanceProtection') {
  const cause = Object.assign(new Error(message), { name });
  return new UpstreamError(operation, { cause });
}

export class FakeFleet implements GroupDirectory, InstanceAddresses, InstanceProtection {
  readonly groups = new Map<string, { members: FakeMember[]; tags: Record<string, string> }>();
  readonly protectionCalls: ProtectionCall[] = [];
  readonly describeCalls: string[][] = [];
  /** The ids of each privateAddresses (DescribeInstances) call. */
  readonly addressCalls: string[][] = [];
  /** Tag-discovery listings made (findGroupsByTag). */
  discoveryCalls = 0;
  /** Make SetInstanceProtection throw: return an error to throw for this call, or undefined. */
  failProtection?: (call: ProtectionCall) => Error | undefined;
  failDescribe?: Error;
  failAddresses?: Error;

  addGroup(name: string, members: FakeMember[], tags: Record<string, string> = {}): this {
    this.groups.set(name, { members, tags });
    return this;
  }

  member(group: string, instanceId: string): FakeMember {
    const m = this.groups.get(group)?.members.find((x) => x.instanceId === instanceId);
    if (!m) throw new Error(`no ${instanceId} in ${group}`);
    return m;
  }

  private snapshot(name: string): GroupSnapshot {
    const g = this.groups.get(name)!;
    return {
      name,
      instances: g.members.map(({ address: _address, ...m }) => ({ ...m })),
      tags: { ...g.tags },
    };
  }

  async describeGroups(names: string[]): Promise<GroupSnapshot[]> {
    this.describeCalls.push([...names]);
    if (this.failDescribe) throw this.failDescribe;
    return names.filter((n) => this.groups.has(n)).map((n) => this.snapshot(n));
  }

  async findGroupsByTag(key: string, value: string): Promise<GroupSnapshot[]> {
    this.discoveryCalls++;
    if (this.failDescribe) throw this.failDescribe;
    return [...this.groups.keys()]
      .filter((n) => this.groups.get(n)!.tags[key] === value)
      .map((n) => this.snapshot(n));
  }

  async privateAddresses(instanceIds: string[]): Promise<Map<string, string>> {
    this.addressCalls.push([...instanceIds]);
    if (this.failAddresses) throw this.failAddresses;
    const out = new Map<string, string>();
    for (const g of this.groups.values()) {
      for (const m of g.members) {
        if (instanceIds.includes(m.instanceId) && m.address) out.set(m.instanceId, m.address);
      }
    }
    return out;
  }

  async setInstanceProtection(groupName: string, instanceIds: string[], protect: boolean) {
    const call = { groupName, instanceIds: [...instanceIds], protect };
    this.protectionCalls.push(call);
    const err = this.failProtection?.(call);
    if (err) throw err;
    for (const id of instanceIds) this.member(groupName, id).protectedFromScaleIn = protect;
  }
}
