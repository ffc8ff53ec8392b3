/**
 * The protect function at Lambda's CPU share: functions/protect.ts bundled as serverless.yml
 * bundles it (bench/function-worker.ts around it), run by plain `node` with the function's
 * environment from serverless.yml, the heap Node sizes for the memory size, and a cgroup CPU
 * quota of memory / 1,769 MB of one CPU (bench/cgroup.ts). AWS is moto_server on loopback
 * (AWS_ENDPOINT_URL) behind bench/aws-cache-proxy.ts, which answers a Describe repeated with
 * nothing changed in between from moto's own earlier bytes — the EC2 answers are read once
 * at setup, in the batches the function sends — so the scans measure themis, not moto's CPU
 * on a loaded machine (moto took up to 30 s for one DescribeInstances of 200 here, past the
 * clients' own 5 s answer timeout); a real region adds its latency, ~0.1 s a call, on top.
 * The group: 1,000 instances whose private addresses are
 * loopback (VPC 127.0.0.0/16), each served by bench/fleet-servers.ts — 10 % accept and never
 * answer, 5 % refuse, the rest answer BUSY or IDLE at once.
 *
 * Each memory size gets a fresh process invoked 1 + repeats times: the first invocation is
 * the cold scan (new SDK clients, empty address cache), the others warm. Before each process
 * every instance's protection is cleared, so each cold scan has the same changes to make.
 * Baseline: the same at one whole vCPU (1,769 MB).
 *
 * Figures: ScanDuration as the function reports it (one group: the invocation's scan, AWS
 * calls included), the invocation's wall time, CPU, SDK calls by command, peak RSS, answers
 * checked against what each address does, and GB-seconds per month at one scan a minute.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { Ec2Addresses } from '../lib/aws/ec2.js';
import { chunk } from '../lib/collections.js';
import { MAX_PROTECTION_BATCH } from '../lib/ports.js';
import { isLoopbackAddress } from '../lib/probe.js';
import { startMoto, type Moto } from '../test/helpers/moto.js';
import { AUTO_SCALING_API, startCachingProxy, type CachingProxy } from './aws-cache-proxy.js';
import { PROJECT_ROOT, bundleEntry, readServerlessYml } from './bundle.js';
import { createCpuLimit, lambdaCpuShare, LAMBDA_MB_PER_VCPU } from './cgroup.js';
import { onInterrupt, startChild } from './children.js';
import { RESULT_MARK, type FunctionJob, type FunctionOutcome } from './function-protocol.js';
import { median, type Row } from './report.js';
import { lambdaHeapFlags, startFleet, type Fleet } from './scan.js';

export const FLEET_SIZE = 1000;
export const GROUP = 'bench-fleet';
/** The issue's goals. */
export const GOAL_WARM_TIMEOUTS = 1.5;
export const GOAL_RSS_SHARE = 0.6;
/** Memory sizes measured; the deployed one is added if missing. */
export const MEMORY_SIZES = [128, 256, 512, 1024];
/** Scheduled once a minute: invocations in a 30-day month. */
export const INVOCATIONS_PER_MONTH = 60 * 24 * 30;
/** Lambda's arm64 duration price per GB-second (us-east-1, first tier), for scale only. */
export const ARM64_USD_PER_GB_SECOND = 0.0000133334;

export interface LambdaScanOptions {
  timeoutMs: number;
  /** Warm invocations per memory size (the median is reported). */
  repeats: number;
  workDir: string;
  log: (line: string) => void;
  /** Memory sizes to measure (default MEMORY_SIZES; the deployed one and 1 vCPU are added). */
  memorySizes?: number[];
  /** Write a V8 CPU profile of each function process here (node --cpu-prof). */
  cpuProfDir?: string;
}

interface Deployed {
  memorySize: number;
  functionTimeoutMs: number;
  env: Record<string, string>;
  nodeOptions: string[];
  probeConcurrency: string;
}

type Yml = {
  params?: { default?: Record<string, string> };
  provider?: { memorySize?: number; environment?: Record<string, unknown> };
  functions?: {
    protect?: { memorySize?: number; timeout?: number; environment?: Record<string, unknown> };
  };
};

/**
 * The protect function's environment as serverless.yml gives it with the default params;
 * values the deploy computes (deploy/stack.cjs) are given by `overrides`.
 */
async function deployed(overrides: Record<string, string>): Promise<Deployed> {
  const doc = await readServerlessYml<Yml>();
  const params = doc.params?.default ?? {};
  const env: Record<string, string> = {};
  const raw = { ...doc.provider?.environment, ...doc.functions?.protect?.environment };
  for (const [name, value] of Object.entries(raw)) {
    if (name in overrides) continue;
    if (typeof value !== 'string') continue;
    const resolved = value.replace(/\$\{param:(\w+)\}/g, (_, p: string) => params[p] ?? '');
    if (resolved.includes('${')) continue; // a deploy-time value not overridden: left out
    env[name] = resolved;
  }
  Object.assign(env, overrides);
  const nodeOptions = env.NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [];
  delete env.NODE_OPTIONS; // given as flags, next to the heap flags
  return {
    memorySize: doc.functions?.protect?.memorySize ?? doc.provider?.memorySize ?? 1024,
    functionTimeoutMs: (doc.functions?.protect?.timeout ?? 6) * 1000,
    env,
    nodeOptions,
    probeConcurrency: env.THEMIS_PROBE_CONCURRENCY ?? '',
  };
}

interface MotoGroup {
  moto: Moto;
  /** The group's instances, in the order DescribeAutoScalingGroups lists them. */
  ids: string[];
  /**
   * Private address of each id, in the same order, read through `endpoint` (the caching
   * proxy) in the batches the function's address cache sends: its cold scans then find
   * moto's answers cached instead of waiting for moto.
   */
  addressesVia(endpoint: string): Promise<string[]>;
  clearProtection(): Promise<void>;
  /** An SNS topic in the same moto; its ARN. */
  topic(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** 1,000 instances in one group, loopback addresses (a /22: 127.0.4.4 … 127.0.7.x). */
async function motoGroup(size: number): Promise<MotoGroup> {
  const moto = await startMoto();
  const ec2 = new EC2Client(moto.clientConfig);
  const asg = new AutoScalingClient(moto.clientConfig);
  const forget = onInterrupt(() => moto.stop());
  const stop = async () => {
    ec2.destroy();
    asg.destroy();
    await moto.stop();
    forget();
  };
  try {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '127.0.0.0/16' }));
    const subnet = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpc.Vpc!.VpcId!,
        CidrBlock: '127.0.4.0/22',
        AvailabilityZone: `${moto.region}a`,
      }),
    );
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'bench',
        LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
      }),
    );
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: GROUP,
        MinSize: 0,
        MaxSize: size,
        DesiredCapacity: size,
        LaunchTemplate: { LaunchTemplateName: 'bench' },
        VPCZoneIdentifier: subnet.Subnet!.SubnetId!,
      }),
    );
    const listed = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }),
    );
    const ids = (listed.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId!);
    if (ids.length !== size) throw new Error(`moto made ${ids.length} instances, not ${size}`);
    return {
      moto,
      ids,
      async addressesVia(endpoint) {
        const client = new EC2Client({ ...moto.clientConfig, endpoint });
        try {
          const byId = await new Ec2Addresses(client).privateAddresses(ids);
          return ids.map((id) => {
            const address = byId.get(id);
            // The loopback rule: never start a fleet (or a probe) at an address off this machine.
            if (!address || !isLoopbackAddress(address)) {
              throw new Error(`moto gave ${id} the address ${address}; refusing to go on`);
            }
            return address;
          });
        } finally {
          client.destroy();
        }
      },
      async clearProtection() {
        for (const batch of chunk(ids, MAX_PROTECTION_BATCH)) {
          await asg.send(
            new SetInstanceProtectionCommand({
              AutoScalingGroupName: GROUP,
              InstanceIds: batch,
              ProtectedFromScaleIn: false,
            }),
          );
        }
      },
      async topic(name) {
        const sns = new SNSClient(moto.clientConfig);
        try {
          return (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
        } finally {
          sns.destroy();
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface SizeRun {
  memoryMB: number;
  share: number;
  /** Where the CPU limit came from, or why there was none. */
  limit: string;
  limited: boolean;
  outcome: FunctionOutcome;
  /** ScanDuration from the function's own EMF lines, one per invocation. */
  scanDurations: number[];
  throttledMs?: number;
}

function emfScanDurations(stdout: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"ScanDuration"')) continue;
    try {
      const doc = JSON.parse(line) as { ScanDuration?: number };
      if (typeof doc.ScanDuration === 'number') out.push(doc.ScanDuration);
    } catch {
      // not a metrics line
    }
  }
  return out;
}

async function runAtMemory(
  bundle: string,
  memoryMB: number,
  deploy: Deployed,
  env: Record<string, string>,
  job: FunctionJob,
  cpuProfDir?: string,
): Promise<SizeRun> {
  const share = lambdaCpuShare(memoryMB);
  const { limit, why } = await createCpuLimit(`themis-bench-${process.pid}-${memoryMB}`, share);
  const forget = limit ? onInterrupt(() => limit.remove()) : () => {};
  try {
    const profile = cpuProfDir
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          cpuProfDir,
          '--cpu-prof-name',
          `protect-${memoryMB}.cpuprofile`,
        ]
      : [];
    const argv = [
      process.execPath,
      ...deploy.nodeOptions,
      ...lambdaHeapFlags(memoryMB),
      ...profile,
      bundle,
    ];
    const { command, args } = limit ? limit.wrap(argv) : { command: argv[0]!, args: argv.slice(1) };
    const { child, done } = startChild(command, args, {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMB) },
    });
    child.stdin!.end(JSON.stringify(job));
    const finished = await done;
    const at = finished.stdout.lastIndexOf(RESULT_MARK);
    if (finished.code !== 0 || at < 0) {
      throw new Error(
        `protect function at ${memoryMB} MB failed (${finished.code ?? finished.signal}): ${finished.stderr.trim().slice(-2000)}\nstdout ends: ${finished.stdout.slice(-1500)}`,
      );
    }
    const outcome = JSON.parse(
      finished.stdout.slice(at + RESULT_MARK.length).trim(),
    ) as FunctionOutcome;
    const usage = limit ? await limit.usage() : undefined;
    return {
      memoryMB,
      share,
      limit: limit ? limit.where : `no CPU limit: ${why}`,
      limited: Boolean(limit),
      outcome,
      scanDurations: emfScanDurations(finished.stdout.slice(0, at)),
      ...(usage ? { throttledMs: usage.throttledMs } : {}),
    };
  } finally {
    await limit?.remove();
    forget();
  }
}

/** Answering instances whose answer came back as anything else (0 is the goal). */
function misclassified(fleet: Fleet, run: FunctionOutcome['runs'][number]): number {
  const got = new Map<string, string>();
  for (const g of run.groups) {
    for (const a of g.busy) got.set(a, 'busy');
    for (const a of g.idle) got.set(a, 'idle');
    for (const a of g.unknown) got.set(a, 'unknown');
  }
  let wrong = 0;
  for (const m of fleet.members) {
    const expected = m.role === 'busy' || m.role === 'idle' ? m.role : 'unknown';
    if (got.get(m.address) !== expected) wrong++;
  }
  return wrong;
}

const gbSeconds = (memoryMB: number, wallMs: number) =>
  (memoryMB / 1024) * (wallMs / 1000) * INVOCATIONS_PER_MONTH;

export interface LambdaScanResult {
  rows: Row[];
  runs: SizeRun[];
}

export async function benchLambdaScan(o: LambdaScanOptions): Promise<LambdaScanResult> {
  o.log(`moto: a group of ${FLEET_SIZE} instances with loopback addresses`);
  const group = await motoGroup(FLEET_SIZE);
  let fleet: Fleet | undefined;
  let proxy: CachingProxy | undefined;
  try {
    proxy = await startCachingProxy(group.moto.endpoint);
    fleet = await startFleet(await group.addressesVia(proxy.endpoint));
    const deploy = await deployed({
      THEMIS_TARGETS: JSON.stringify([{ asgName: GROUP }]),
      // `!Ref OutcomeTopic` in serverless.yml: the stack's topic, made in moto (nothing is
      // retained here, so protect publishes nothing to it).
      THEMIS_TOPIC_ARN: await group.topic('themis-bench-outcomes'),
      THEMIS_TAG_DISCOVERY: 'false',
      THEMIS_METRICS_PORT: String(fleet.port),
      THEMIS_PROBE_TIMEOUT_MS: String(o.timeoutMs),
    });
    const env: Record<string, string> = {
      ...deploy.env,
      AWS_REGION: group.moto.region,
      AWS_DEFAULT_REGION: group.moto.region,
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_LAMBDA_FUNCTION_NAME: 'themis-bench-protect',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      THEMIS_LOOPBACK_ONLY: '1',
    };
    const bundle = await bundleEntry('bench/function-worker.ts', o.workDir);
    const job: FunctionJob = { invocations: 1 + o.repeats, timeoutMs: deploy.functionTimeoutMs };
    const sizes = [
      ...new Set([...(o.memorySizes ?? MEMORY_SIZES), deploy.memorySize, LAMBDA_MB_PER_VCPU]),
    ].sort((a, b) => a - b);
    const runs: SizeRun[] = [];
    for (const memoryMB of sizes) {
      await group.clearProtection();
      // Each process lists the group from moto; EC2's answers stay cached (nothing changes them).
      proxy.clear(AUTO_SCALING_API);
      const run = await runAtMemory(bundle, memoryMB, deploy, env, job, o.cpuProfDir);
      const [cold, ...warm] = run.outcome.runs;
      o.log(
        `${memoryMB} MB (${run.share.toFixed(3)} vCPU): cold ${Math.round(cold!.wallMs)} ms, warm ${warm.map((w) => Math.round(w.wallMs)).join(', ')} ms, peak RSS ${run.outcome.maxRssMB.toFixed(1)} MB`,
      );
      runs.push(run);
    }
    return { rows: rowsOf(runs, fleet, deploy, o), runs };
  } finally {
    await fleet?.stop();
    await proxy?.stop();
    await group.stop();
  }
}

function rowsOf(runs: SizeRun[], fleet: Fleet, deploy: Deployed, o: LambdaScanOptions): Row[] {
  const rows: Row[] = [];
  const limited = runs.every((r) => r.limited);
  const where = limited
    ? runs[0]!.limit.replace(/\/[^/]+$/, '/…')
    : `UNLIMITED CPU (${runs[0]!.limit})`;
  const concurrency = deploy.probeConcurrency || 'derived from the fleet (lib/probe.ts)';
  const section = `Protect function, bundled as deployed, at Lambda's CPU share (${where}); moto, ${FLEET_SIZE} instances (${fleet.hangs} hung, ${fleet.expected.unknown - fleet.hangs} refusing), probe timeout ${o.timeoutMs} ms, probe concurrency ${concurrency}`;
  const scanOf = (r: SizeRun, i: number) => r.scanDurations[i] ?? Number.NaN;
  const warmOf = (r: SizeRun) => median(r.outcome.runs.slice(1).map((_, i) => scanOf(r, i + 1)));
  const warmWallOf = (r: SizeRun) => median(r.outcome.runs.slice(1).map((w) => w.wallMs));
  const vcpu = runs.find((r) => r.memoryMB === LAMBDA_MB_PER_VCPU)!;
  const dep = runs.find((r) => r.memoryMB === deploy.memorySize)!;
  const list = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  const callsText = (run: FunctionOutcome['runs'][number]) =>
    Object.entries(run.calls)
      .map(([k, v]) => `${v} ${k.replace(/Command$/, '')} (${Math.round(run.awsMs[k] ?? 0)} ms)`)
      .join(', ') || 'none';
  const wrongOf = (r: SizeRun) => r.outcome.runs.map((x) => misclassified(fleet, x));

  for (const r of [dep, vcpu]) {
    const warm = warmOf(r);
    const label = `${r.memoryMB} MB, ${r.share.toFixed(3)} vCPU${r === dep ? ', deployed' : ''}`;
    rows.push({
      section,
      name: `warm scan (ScanDuration), ${label}`,
      figure: { value: warm, unit: 'ms' },
      baseline: { value: o.timeoutMs, unit: 'ms', label: 'probe timeout' },
      ratio: { value: warm / o.timeoutMs, label: '× timeout' },
      ...(r === dep
        ? {
            goal: {
              text: `≤ ${GOAL_WARM_TIMEOUTS} × timeout`,
              pass: warm <= GOAL_WARM_TIMEOUTS * o.timeoutMs,
            },
          }
        : {
            // One vCPU: what the hung instances cost when CPU is not the limit.
            goal: { text: '< 2 × timeout (one round)', pass: warm < 2 * o.timeoutMs },
          }),
      note: `ScanDuration of the warm invocations ${list(r.scanDurations.slice(1))} ms (invocation wall ${list(r.outcome.runs.slice(1).map((w) => w.wallMs))} ms), CPU ${list(r.outcome.runs.slice(1).map((w) => w.cpuMs))} ms; SDK calls per warm invocation: ${callsText(r.outcome.runs[1]!)}.${r.throttledMs !== undefined ? ` Throttled by the quota for ${(r.throttledMs / 1000).toFixed(1)} s in all.` : ''}`,
    });
    const cold = scanOf(r, 0);
    rows.push({
      section,
      name: `cold scan (ScanDuration), ${label}`,
      figure: { value: cold, unit: 'ms' },
      baseline: { value: o.timeoutMs, unit: 'ms', label: 'probe timeout' },
      ratio: { value: cold / o.timeoutMs, label: '× timeout' },
      note: `first invocation of a fresh process: new SDK clients, empty address cache, ${FLEET_SIZE / 2 - fleet.hangs / 2}… protections to set; invocation wall ${Math.round(r.outcome.runs[0]!.wallMs)} ms, CPU ${Math.round(r.outcome.runs[0]!.cpuMs)} ms; SDK calls: ${callsText(r.outcome.runs[0]!)}; process start to handler imported ${Math.round(r.outcome.readyMs)} ms.`,
    });
  }
  rows.push({
    section,
    name: `warm scan at ${dep.memoryMB} MB against one vCPU`,
    figure: { value: warmOf(dep), unit: 'ms' },
    baseline: { value: warmOf(vcpu), unit: 'ms', label: `${LAMBDA_MB_PER_VCPU} MB (1 vCPU)` },
    ratio: { value: warmOf(dep) / warmOf(vcpu), label: '× slower' },
  });
  const allWrong = runs.flatMap(wrongOf);
  const answering = fleet.expected.busy + fleet.expected.idle;
  rows.push({
    section,
    name: 'instances misclassified, every run at every memory size',
    figure: { value: Math.max(...allWrong), unit: '' },
    baseline: { value: FLEET_SIZE, unit: '', label: `instances (${answering} answering)` },
    ratio: { value: Math.max(...allWrong) / FLEET_SIZE, label: 'of the fleet' },
    goal: { text: '0', pass: allWrong.every((w) => w === 0) },
    note: runs.map((r) => `${r.memoryMB} MB: ${wrongOf(r).join(', ')}`).join('; '),
  });
  const ec2 = (r: SizeRun, i: number) => r.outcome.runs[i]!.calls.DescribeInstancesCommand ?? 0;
  const warmEc2 = Math.max(
    ...runs.flatMap((r) => r.outcome.runs.slice(1).map((_, i) => ec2(r, i + 1))),
  );
  rows.push({
    section,
    name: 'EC2 DescribeInstances per warm scan (most in any warm run)',
    figure: { value: warmEc2, unit: 'calls' },
    baseline: { value: ec2(dep, 0), unit: 'calls', label: 'cold scan' },
    ratio: { value: warmEc2 / Math.max(1, ec2(dep, 0)), label: '× cold' },
    goal: { text: '0 (steady state)', pass: warmEc2 === 0 },
  });
  const asgWarm = Math.max(
    ...runs.flatMap((r) =>
      r.outcome.runs
        .slice(1)
        .map(
          (w) =>
            (w.calls.DescribeAutoScalingGroupsCommand ?? 0) +
            (w.calls.SetInstanceProtectionCommand ?? 0),
        ),
    ),
  );
  rows.push({
    section,
    name: 'Auto Scaling calls per warm scan (nothing changed)',
    figure: { value: asgWarm, unit: 'calls' },
    baseline: { value: 1, unit: 'calls', label: 'lower bound (1 Describe)' },
    ratio: { value: asgWarm, label: '× bound' },
    goal: { text: '= lower bound', pass: asgWarm === 1 },
  });

  const mem = `Memory size: scan time, peak RSS and cost for ${FLEET_SIZE} instances scanned every minute (same processes)`;
  for (const r of runs) {
    const warm = warmWallOf(r);
    const gbs = gbSeconds(r.memoryMB, warm);
    rows.push({
      section: mem,
      name: `${r.memoryMB} MB (${r.share.toFixed(3)} vCPU): warm invocation`,
      figure: { value: warm, unit: 'ms' },
      baseline: { value: warmWallOf(vcpu), unit: 'ms', label: '1 vCPU' },
      ratio: { value: warm / warmWallOf(vcpu), label: '× 1 vCPU' },
      note: `cold invocation ${Math.round(r.outcome.runs[0]!.wallMs)} ms; ${Math.round(gbs).toLocaleString('en-US')} GB-s per month (${INVOCATIONS_PER_MONTH.toLocaleString('en-US')} warm invocations × ${(r.memoryMB / 1024).toFixed(3)} GB × ${(warm / 1000).toFixed(2)} s) ≈ $${(gbs * ARM64_USD_PER_GB_SECOND).toFixed(2)} at the arm64 price.`,
    });
    const rss = r.outcome.maxRssMB;
    rows.push({
      section: mem,
      name: `${r.memoryMB} MB: peak RSS (cold + ${r.outcome.runs.length - 1} warm scans)`,
      figure: { value: rss, unit: 'MB' },
      baseline: { value: r.memoryMB, unit: 'MB', label: 'memory size' },
      ratio: { value: (rss / r.memoryMB) * 100, label: '% of memory' },
      goal: {
        text: `≤ ${GOAL_RSS_SHARE * 100} %`,
        pass: rss <= GOAL_RSS_SHARE * r.memoryMB,
      },
      note: `peak of the cold invocation ${r.outcome.runs[0]!.maxRssMB?.toFixed(1) ?? '?'} MB, of the warm ones ${r.outcome.runs
        .slice(1)
        .map((w) => w.maxRssMB?.toFixed(1) ?? '?')
        .join(
          ', ',
        )} MB; node ${[...deploy.nodeOptions, ...lambdaHeapFlags(r.memoryMB)].join(' ')}.`,
    });
  }
  rows.push({
    section: mem,
    name: 'GB-seconds per month at the deployed memory size',
    figure: { value: gbSeconds(dep.memoryMB, warmWallOf(dep)), unit: '' },
    baseline: {
      value: Math.min(...runs.map((r) => gbSeconds(r.memoryMB, warmWallOf(r)))),
      unit: '',
      label: 'cheapest size measured',
    },
    ratio: {
      value:
        gbSeconds(dep.memoryMB, warmWallOf(dep)) /
        Math.min(...runs.map((r) => gbSeconds(r.memoryMB, warmWallOf(r)))),
      label: '× cheapest',
    },
  });
  return rows;
}
