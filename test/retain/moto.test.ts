/**
 * Retention over the wire against moto_server (real SDK client, real adapter). What moto does
 * with it, checked here rather than assumed: it accepts InstanceLifecyclePolicy on
 * UpdateAutoScalingGroup (an unknown query parameter to it), does not store it and never
 * returns it — so every group reads as "does not retain", and the Retained states themselves
 * are the fleet simulator's job (sim/fleet.ts). TerminateInstanceInAutoScalingGroup it does
 * implement, ShouldDecrementDesiredCapacity included.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { createLoopbackFleet, startMoto, type Moto } from '../helpers/moto.js';

describe('retain: Auto Scaling over the wire (moto)', function () {
  this.timeout(60_000);
  let moto: Moto;
  let client: AutoScalingClient;
  let adapter: AutoScalingAdapter;

  before(async () => {
    moto = await startMoto();
    client = new AutoScalingClient(moto.clientConfig);
    adapter = new AutoScalingAdapter(client);
  });
  after(async () => {
    client.destroy();
    await moto.stop();
  });

  it('accepts the instance lifecycle policy but never reports it, so the group reads as not retaining', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-policy', size: 1 });
    const input = {
      AutoScalingGroupName: fleet.groupName,
      InstanceLifecyclePolicy: { RetentionTriggers: { TerminateHookAbandon: 'retain' as const } },
    };
    await client.send(new UpdateAutoScalingGroupCommand(input));
    const raw = await client.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.groupName] }),
    );
    expect(raw.AutoScalingGroups?.[0]?.InstanceLifecyclePolicy).to.equal(undefined);
    const [group] = await adapter.describeGroups([fleet.groupName]);
    expect(group!.name).to.equal(fleet.groupName);
    expect(group!.retainsOnAbandon).to.equal(undefined);
  });

  it('terminates an instance and keeps the desired capacity (ShouldDecrementDesiredCapacity=false)', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-terminate', size: 2 });
    const victim = fleet.instanceIds[0]!;
    await adapter.terminateRetained(victim);
    const raw = await client.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.groupName] }),
    );
    const group = raw.AutoScalingGroups![0]!;
    expect(group.DesiredCapacity).to.equal(2);
    const ids = (group.Instances ?? []).map((i) => i.InstanceId);
    expect(ids).to.not.include(victim);
    // moto replaces it at once: the group is back at its (undecremented) desired capacity.
    expect(ids).to.have.length(2);
  });

  it('refuses an instance it does not know, and the adapter wraps the refusal', async () => {
    const err = await adapter.terminateRetained('i-00000000000000000').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.contain(
      'TerminateInstanceInAutoScalingGroup i-00000000000000000',
    );
  });
});
