/**
 * moto_server for over-the-wire tests: `startMoto()` (test/helpers/moto-server.ts) in a test's
 * setup, `stop()` in its teardown; each gives a server with empty state, so state never leaks
 * between files. Fleets are created in VPC 127.0.0.0/16 / subnet 127.0.1.0/24 so that moto
 * gives instances private IPs 127.0.1.4, .5, … — real loopback addresses a test can bind
 * worker servers to (see DESIGN.md, "How it is tested here").
 */
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
import type { Moto } from './moto-server.js';

export { motoCommand, setTransition, startMoto, type Moto } from './moto-server.js';

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
