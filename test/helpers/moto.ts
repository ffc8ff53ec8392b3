/**
 * moto_server for over-the-wire tests: started by the test that needs it on a free loopback
 * port, stopped in teardown. Each `startMoto()` is its own server, so state never leaks
 * between files. Fleets are created in VPC 127.0.0.0/16 / subnet 127.0.1.0/24 so that moto
 * gives instances private IPs 127.0.1.4, .5, … — real loopback addresses a test can bind
 * worker servers to (see DESIGN.md, "How it is tested here").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { AwsClients } from '../../lib/aws/clients.js';
import { isLoopbackAddress } from '../../lib/probe.js';

export interface Moto {
  endpoint: string;
  region: string;
  /** Client config for any SDK v3 client pointed at this server. */
  clientConfig: {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

/** The moto_server executable: a project virtualenv (scripts/ensure-moto.sh) or the PATH. */
export function motoCommand(): string {
  const local = resolve('.venv/bin/moto_server');
  return existsSync(local) ? local : 'moto_server';
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function startMoto(region = 'us-east-1'): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn(motoCommand(), ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new Error(
          `cannot start moto_server (${err.message}); run scripts/ensure-moto.sh or pip install "moto[server]"`,
        ),
      ),
    ),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  // moto starts in well under a second here; 60 s allows for a cold Python on a slow or
  // heavily loaded box (at load average 30 it took more than 20 s).
  const deadline = Date.now() + 60_000;
  const ready = (async () => {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`${endpoint}/moto-api/`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`moto_server did not answer on ${endpoint} within 60 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (err) {
    // A server that never answered is still a process: stop it, or mocha never exits.
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  }
  return {
    endpoint,
    region,
    clientConfig: {
      region,
      endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The clients of `motoClients`: SSM built at once, so tests can call and intercept it. */
export type MotoClients = AwsClients & { ssm: SSMClient };

/**
 * One SDK client per service themis uses, all pointed at this server. The caller destroys
 * them in teardown: `for (const c of Object.values(clients)) c.destroy()`.
 */
export function motoClients(moto: Moto): MotoClients {
  return {
    autoScaling: new AutoScalingClient(moto.clientConfig),
    ec2: new EC2Client(moto.clientConfig),
    sns: new SNSClient(moto.clientConfig),
    sqs: new SQSClient(moto.clientConfig),
    ssm: new SSMClient(moto.clientConfig),
  };
}

export interface MotoFleet {
  groupName: string;
  subnetId: string;
  /** Instance id → private IP (always 127.0.1.x; asserted). */
  addresses: Map<string, string>;
  instanceIds: string[];
}

let templateCounter = 0;
/**
 * Fleets created so far on each moto_server. The subnet is numbered per server, not per
 * process, so the first fleet on a server is always 127.0.1.x whatever other test files in
 * the same mocha process created on theirs.
 */
const fleetsPerServer = new WeakMap<Moto, number>();

/**
 * Create an Auto Scaling group of `size` instances in moto with loopback private IPs.
 * Throws if moto ever hands out a non-loopback address: a test must never probe one.
 */
export async function createLoopbackFleet(
  moto: Moto,
  options: { groupName: string; size: number; tags?: Record<string, string>; maxSize?: number },
): Promise<MotoFleet> {
  const ec2 = new EC2Client(moto.clientConfig);
  const asg = new AutoScalingClient(moto.clientConfig);
  try {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '127.0.0.0/16' }));
    const subnet = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpc.Vpc!.VpcId!,
        CidrBlock: `127.0.${nextSubnet(moto)}.0/24`,
        AvailabilityZone: `${moto.region}a`,
      }),
    );
    const templateName = `themis-test-${++templateCounter}`;
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: templateName,
        LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.micro' },
      }),
    );
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: options.groupName,
        MinSize: 0,
        MaxSize: options.maxSize ?? Math.max(options.size, 1) * 2,
        DesiredCapacity: options.size,
        LaunchTemplate: { LaunchTemplateName: templateName },
        VPCZoneIdentifier: subnet.Subnet!.SubnetId!,
        Tags: Object.entries(options.tags ?? {}).map(([Key, Value]) => ({
          Key,
          Value,
          PropagateAtLaunch: false,
          ResourceId: options.groupName,
          ResourceType: 'auto-scaling-group',
        })),
      }),
    );
    const groups = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [options.groupName] }),
    );
    const instanceIds = (groups.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId!);
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: instanceIds }));
    const addresses = new Map<string, string>();
    for (const r of described.Reservations ?? []) {
      for (const i of r.Instances ?? []) {
        if (!i.PrivateIpAddress || !isLoopbackAddress(i.PrivateIpAddress)) {
          throw new Error(
            `moto gave ${i.InstanceId} the non-loopback address ${i.PrivateIpAddress}; refusing to go on`,
          );
        }
        addresses.set(i.InstanceId!, i.PrivateIpAddress);
      }
    }
    return {
      groupName: options.groupName,
      subnetId: subnet.Subnet!.SubnetId!,
      addresses,
      instanceIds,
    };
  } finally {
    ec2.destroy();
    asg.destroy();
  }
}

/** 1 for a server's first fleet, 2 for its second, … (the third octet of its subnet). */
function nextSubnet(moto: Moto): number {
  const n = (fleetsPerServer.get(moto) ?? 0) + 1;
  if (n > 254) throw new Error(`more than 254 fleets on ${moto.endpoint}: no 127.0.N.0/24 left`);
  fleetsPerServer.set(moto, n);
  return n;
}
