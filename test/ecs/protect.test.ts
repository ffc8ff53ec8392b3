/**
 * protect in ECS mode, over the wire against moto_server: the real handler, the real Auto
 * Scaling, EC2 and ECS adapters. A group names its cluster (tag, event or environment) and
 * its instances are protected while they run tasks that are not a daemon's, unprotected when
 * they run none, and left alone when ECS cannot say (not registered).
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { EcsAdapter } from '../../lib/aws/ecs.js';
import { createRecordingLog } from '../../lib/log.js';
import type { Prober } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { parseProtectConfig } from '../../lib/protect/config.js';
import { createProtectHandler, type RegionalPorts } from '../../lib/protect/handler.js';
import type { GroupReport } from '../../lib/protect/scan.js';
import {
  createLoopbackFleet,
  motoClients,
  startMoto,
  type Moto,
  type MotoFleet,
} from '../helpers/moto.js';
import {
  createMotoCluster,
  ecsClient,
  keepTasksRunning,
  startTask,
  stopTask,
  type MotoCluster,
} from '../helpers/moto-ecs.js';

describe('protect in ECS mode (moto)', function () {
  this.timeout(90_000);
  let moto: Moto;
  let ecs: ECSClient;
  let asg: AutoScalingClient;
  let ports: RegionalPorts;
  let probes: number;
  let prober: Prober;

  before(async () => {
    moto = await startMoto();
    await keepTasksRunning(moto);
    ecs = ecsClient(moto);
    asg = new AutoScalingClient(moto.clientConfig);
    const clients = motoClients(moto);
    const autoScaling = new AutoScalingAdapter(clients.autoScaling);
    ports = {
      groups: autoScaling,
      protection: autoScaling,
      addresses: new Ec2Addresses(clients.ec2),
      ecs: new EcsAdapter(ecs),
    };
    const http = createHttpProber({ loopbackOnly: true });
    // Counts HTTP probes: ECS mode must make none.
    prober = {
      probe: (address, settings, opts) => {
        probes++;
        return http.probe(address, settings, opts);
      },
    };
  });
  beforeEach(() => {
    probes = 0;
  });
  after(async () => {
    ecs?.destroy();
    asg?.destroy();
    await moto?.stop();
  });

  function handler(env: Record<string, string> = {}) {
    return createProtectHandler({
      config: parseProtectConfig({ AWS_REGION: moto.region, ...env }),
      portsFor: () => ports,
      prober,
      log: createRecordingLog(),
    });
  }

  async function protection(groupName: string): Promise<Map<string, boolean>> {
    const out = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
    );
    return new Map(
      (out.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => [
        i.InstanceId!,
        i.ProtectedFromScaleIn ?? false,
      ]),
    );
  }

  async function protect(groupName: string, ids: string[], on: boolean) {
    await asg.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: groupName,
        InstanceIds: ids,
        ProtectedFromScaleIn: on,
      }),
    );
  }

  /** Four instances: [0] runs work, [1] only a daemon task, [2] nothing, [3] unregistered. */
  async function ecsFleet(
    name: string,
    tags: Record<string, string>,
  ): Promise<{ fleet: MotoFleet; cluster: MotoCluster; work: string }> {
    const fleet = await createLoopbackFleet(moto, { groupName: name, size: 4, tags });
    const cluster = await createMotoCluster(ecs, name, fleet.instanceIds.slice(0, 3));
    const work = await startTask(ecs, cluster, fleet.instanceIds[0]!);
    await startTask(ecs, cluster, fleet.instanceIds[1]!, { daemon: true });
    return { fleet, cluster, work };
  }

  it('protects instances with work, unprotects empty ones and leaves unregistered ones alone', async () => {
    const { fleet, cluster, work } = await ecsFleet('ecs-tagged', {
      'themis:enabled': 'true',
      'themis:ecs-cluster': 'ecs-tagged',
    });
    const [busy, daemonOnly, empty, unregistered] = fleet.instanceIds as [
      string,
      string,
      string,
      string,
    ];
    await protect(fleet.groupName, [daemonOnly, empty, unregistered], true);

    const result = await handler()({});

    const report = result.scans[0]!.groups.find((g) => g.asgName === fleet.groupName)!;
    expect(report.outcome).to.equal('ok');
    expect(Object.keys(report.busy)).to.deep.equal([busy]);
    expect(Object.keys(report.idle).sort()).to.deep.equal([daemonOnly, empty].sort());
    expect(Object.keys(report.error)).to.deep.equal([unregistered]);
    expect(Object.fromEntries(await protection(fleet.groupName))).to.deep.equal({
      [busy]: true,
      [daemonOnly]: false,
      [empty]: false,
      [unregistered]: true,
    });
    expect(probes).to.equal(0);

    // The work ends: the next scan unprotects the instance.
    await stopTask(ecs, cluster, work);
    await handler()({});
    expect((await protection(fleet.groupName)).get(busy)).to.equal(false);
  });

  it('takes the cluster from the event over the tag, and the tag over THEMIS_ECS_CLUSTER', async () => {
    const { fleet } = await ecsFleet('ecs-layers', { 'themis:ecs-cluster': 'no-such-cluster' });
    const busy = fleet.instanceIds[0]!;
    const env = { THEMIS_ECS_CLUSTER: 'ecs-layers', THEMIS_TAG_DISCOVERY: 'false' };

    // Tag (a cluster without these instances) beats the environment: nothing is busy.
    const byTag = (await handler(env)({ asgName: fleet.groupName })).scans[0]!.groups[0]!;
    expect(Object.keys(byTag.busy)).to.deep.equal([]);
    expect((await protection(fleet.groupName)).get(busy)).to.equal(false);

    // The event beats the tag.
    const byEvent = (await handler(env)({ asgName: fleet.groupName, ecsCluster: 'ecs-layers' }))
      .scans[0]!.groups[0]!;
    expect(Object.keys(byEvent.busy)).to.deep.equal([busy]);
    expect((await protection(fleet.groupName)).get(busy)).to.equal(true);
  });

  it('uses THEMIS_ECS_CLUSTER for a group without a tag', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'ecs-env', size: 1 });
    const cluster = await createMotoCluster(ecs, 'ecs-env', fleet.instanceIds);
    await startTask(ecs, cluster, fleet.instanceIds[0]!);

    const report = (
      await handler({ THEMIS_ECS_CLUSTER: cluster.arn, THEMIS_TAG_DISCOVERY: 'false' })({
        asgName: fleet.groupName,
      })
    ).scans[0]!.groups[0]!;

    expect(Object.keys(report.busy)).to.deep.equal(fleet.instanceIds);
    expect(probes).to.equal(0);
  });

  it('refuses a bad themis:ecs-cluster tag by name and leaves the group untouched', async () => {
    const fleet = await createLoopbackFleet(moto, {
      groupName: 'ecs-bad-tag',
      size: 1,
      tags: { 'themis:ecs-cluster': 'not a cluster!' },
    });
    await protect(fleet.groupName, fleet.instanceIds, true);

    const report: GroupReport = (await handler()({ asgName: fleet.groupName })).scans[0]!
      .groups[0]!;

    expect(report.outcome).to.equal('config-error');
    expect(report.field).to.equal('themis:ecs-cluster');
    expect((await protection(fleet.groupName)).get(fleet.instanceIds[0]!)).to.equal(true);
  });
});
