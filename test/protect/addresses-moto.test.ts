/**
 * The warm container's address cache over the wire: the protect handler with the real SDK
 * adapters pointed at moto_server, DescribeInstances counted where the SDK sends it. (Broken
 * variant tried: the handler scanning with the uncached port — the second invocation then
 * made one DescribeInstances call and this failed.)
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
} from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { createProtectHandler } from '../../lib/protect/handler.js';
import { createLoopbackFleet, startMoto, type Moto } from '../helpers/moto.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

describe('protect/addresses over the wire (moto_server) @slow', function () {
  let moto: Moto;
  let asg: AutoScalingClient;
  let ec2: EC2Client;
  let workers: WorkerSet | undefined;
  /** DescribeInstances requests as sent: the instance ids of each. */
  const described: string[][] = [];

  before(async () => {
    moto = await startMoto();
    asg = new AutoScalingClient(moto.clientConfig);
    ec2 = new EC2Client(moto.clientConfig);
    ec2.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DescribeInstancesCommand') {
          const input = args.input as { Filters?: Array<{ Name?: string; Values?: string[] }> };
          described.push(input.Filters?.find((f) => f.Name === 'instance-id')?.Values ?? []);
        }
        return next(args);
      },
      { step: 'initialize', name: 'countDescribeInstances' },
    );
  });

  after(async () => {
    await workers?.close();
    asg?.destroy();
    ec2?.destroy();
    await moto?.stop();
  });

  it('describes the fleet on the cold scan, nothing on the warm one, and only a newcomer after a scale-out', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'cached', size: 4, maxSize: 8 });
    workers = await startWorkersOnOnePort(
      fleet.instanceIds.map((id, i) => [
        fleet.addresses.get(id)!,
        { kind: 'answer', body: i % 2 ? 'IDLE' : 'BUSY' },
      ]),
    );
    const autoScaling = new AutoScalingAdapter(asg);
    const handler = createProtectHandler({
      config: {
        region: moto.region,
        settings: { metricsPort: workers.port, timeoutMs: 500 },
        targets: [{ asgName: 'cached', region: moto.region, settings: {} }],
        tagDiscovery: false,
        scansPerInvocation: 1,
        probeConcurrency: 8,
      },
      portsFor: () => ({
        groups: autoScaling,
        protection: autoScaling,
        addresses: new Ec2Addresses(ec2),
      }),
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
    });

    const cold = await handler({});
    expect(described.map((ids) => [...ids].sort())).to.deep.equal([[...fleet.instanceIds].sort()]);
    const warm = await handler({});
    expect(described).to.have.length(1);
    expect(warm.scans[0]!.groups[0]!.busy).to.deep.equal(cold.scans[0]!.groups[0]!.busy);
    expect(Object.keys(warm.scans[0]!.groups[0]!.busy)).to.have.length(2);

    await asg.send(
      new SetDesiredCapacityCommand({ AutoScalingGroupName: 'cached', DesiredCapacity: 5 }),
    );
    const listed = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['cached'] }),
    );
    const newcomer = listed
      .AutoScalingGroups![0]!.Instances!.map((i) => i.InstanceId!)
      .filter((id) => !fleet.instanceIds.includes(id));
    expect(newcomer).to.have.length(1);
    const after = await handler({});
    await handler({});
    expect(described.slice(1)).to.deep.equal([newcomer]);
    // Its address is one moto gave it in the loopback subnet; nothing answers there.
    expect(after.scans[0]!.groups[0]!.error).to.have.property(newcomer[0]!);
  });
});
