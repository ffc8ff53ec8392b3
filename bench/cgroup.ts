/**
 * Lambda's CPU on this machine: a Linux cgroup whose CPU quota is the share of one vCPU a
 * function of `memoryMB` gets (memory / 1,769 MB; one vCPU at 1,769 MB), so a child started
 * in it runs as slowly as it would there — on this machine's cores, not Graviton's.
 *
 * cgroup v2 (`cpu.max` under /sys/fs/cgroup, with the cpu controller enabled for children)
 * or v1 (`cpu.cfs_quota_us` under /sys/fs/cgroup/cpu); both need root. Where neither can be
 * written, `createCpuLimit` says why and returns undefined: the caller then prints unlimited
 * figures and says so.
 *
 * The cgroup also gets a high CPU weight (v1 cpu.shares, v2 cpu.weight), so that on a busy
 * machine the child still gets its quota — Lambda guarantees the share — instead of also
 * losing the competition with everything else; the quota still caps it. Whether it got its
 * share is checked afterwards (`usage`), not assumed.
 *
 * The child enters the cgroup before it execs node (a `sh -c 'echo $$ > cgroup.procs; exec
 * …'` prefix), so every thread node starts is inside from the first instruction.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Lambda gives a function one vCPU at 1,769 MB, and a proportional share below. */
export const LAMBDA_MB_PER_VCPU = 1769;
/** The CFS period used: 100 ms, the kernel's default. */
const PERIOD_US = 100_000;

export function lambdaCpuShare(memoryMB: number): number {
  return Math.min(1, memoryMB / LAMBDA_MB_PER_VCPU);
}

export interface CpuLimit {
  /** e.g. 'cgroup v1 /sys/fs/cgroup/cpu/themis-bench-123-256' */
  where: string;
  share: number;
  /** Command prefix that runs `argv` inside the cgroup. */
  wrap(argv: string[]): { command: string; args: string[] };
  /** CPU time used by everything in the cgroup so far, and time spent throttled. */
  usage(): Promise<{ cpuMs: number; throttledMs: number; periods: number; throttled: number }>;
  remove(): Promise<void>;
}

interface Flavour {
  name: string;
  root: string;
  quotaFiles(dir: string, share: number): Array<[string, string]>;
  procs: string;
  readUsage(
    dir: string,
  ): Promise<{ cpuMs: number; throttledMs: number; periods: number; throttled: number }>;
}

function statField(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

const V2: Flavour = {
  name: 'cgroup v2',
  root: '/sys/fs/cgroup',
  quotaFiles: (_dir, share) => [
    ['cpu.max', `${Math.round(share * PERIOD_US)} ${PERIOD_US}`],
    ['cpu.weight', '10000'],
  ],
  procs: 'cgroup.procs',
  async readUsage(dir) {
    const stat = await readFile(join(dir, 'cpu.stat'), 'utf8');
    return {
      cpuMs: statField(stat, 'usage_usec') / 1000,
      throttledMs: statField(stat, 'throttled_usec') / 1000,
      periods: statField(stat, 'nr_periods'),
      throttled: statField(stat, 'nr_throttled'),
    };
  },
};

const V1: Flavour = {
  name: 'cgroup v1',
  root: '/sys/fs/cgroup/cpu',
  quotaFiles: (_dir, share) => [
    ['cpu.cfs_period_us', String(PERIOD_US)],
    ['cpu.cfs_quota_us', String(Math.round(share * PERIOD_US))],
    ['cpu.shares', '262144'],
  ],
  procs: 'cgroup.procs',
  async readUsage(dir) {
    const stat = await readFile(join(dir, 'cpu.stat'), 'utf8');
    // cpuacct.usage lives in the cpuacct hierarchy; v1 cpu.stat has no usage, so the CPU
    // time comes from the child itself (process.cpuUsage) and this reports throttling only.
    return {
      cpuMs: Number.NaN,
      throttledMs: statField(stat, 'throttled_time') / 1e6,
      periods: statField(stat, 'nr_periods'),
      throttled: statField(stat, 'nr_throttled'),
    };
  },
};

async function v2Usable(): Promise<boolean> {
  try {
    const controllers = await readFile(join(V2.root, 'cgroup.controllers'), 'utf8');
    if (!controllers.split(/\s+/).includes('cpu')) return false;
    const subtree = await readFile(join(V2.root, 'cgroup.subtree_control'), 'utf8');
    return subtree.split(/\s+/).includes('cpu');
  } catch {
    return false;
  }
}

/**
 * A cgroup limiting CPU to `share` of one CPU, or undefined with `why` set when this
 * machine does not let us make one.
 */
export async function createCpuLimit(
  name: string,
  share: number,
): Promise<{ limit?: CpuLimit; why?: string }> {
  const candidates: Flavour[] = [];
  if (await v2Usable()) candidates.push(V2);
  if (existsSync(join(V1.root, 'cpu.cfs_quota_us'))) candidates.push(V1);
  if (candidates.length === 0) {
    return { why: 'no cgroup CPU controller found (neither v2 cpu.max nor v1 cpu.cfs_quota_us)' };
  }
  const reasons: string[] = [];
  for (const flavour of candidates) {
    const dir = join(flavour.root, name);
    try {
      await mkdir(dir);
    } catch (err) {
      reasons.push(`${flavour.name}: cannot create ${dir} (${(err as Error).message})`);
      continue;
    }
    try {
      for (const [file, value] of flavour.quotaFiles(dir, share)) {
        await writeFile(join(dir, file), value);
      }
    } catch (err) {
      reasons.push(`${flavour.name}: cannot set the quota in ${dir} (${(err as Error).message})`);
      await rmdir(dir).catch(() => {});
      continue;
    }
    const procs = join(dir, flavour.procs);
    return {
      limit: {
        where: `${flavour.name} ${dir}`,
        share,
        wrap: (argv) => ({
          command: '/bin/sh',
          args: ['-c', `echo $$ > '${procs}' && exec "$@"`, 'cpu-limited', ...argv],
        }),
        usage: () => flavour.readUsage(dir),
        // Only an empty cgroup can be removed: call after its processes have exited.
        remove: () => rmdir(dir).catch(() => {}),
      },
    };
  }
  return { why: reasons.join('; ') };
}
