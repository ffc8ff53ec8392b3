/**
 * The launch gate's Auto Scaling calls over the wire against moto_server (real SDK clients,
 * real adapters). What moto models, checked here rather than assumed: a launch hook
 * (PutLifecycleHook with autoscaling:EC2_INSTANCE_LAUNCHING) is stored and described with its
 * timing; CompleteLifecycleAction is not implemented (an HTML page, which the adapter reports
 * as a retryable failure — completions are the fleet simulator's job); group tags are
 * written, read back by DescribeAutoScalingGroups and deleted, which is all the abandon count
 * (lib/gate/launch.ts) needs.
 */
import { AutoScalingClient, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { expect } from 'chai';
import { LAUNCHING } from '../../lib/aws/facts.js';
import { UpstreamError } from '../../lib/errors.js';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { AutoScalingGroupTags } from '../../lib/aws/group-tags.js';
import {
  LAUNCH_ABANDONS_TAG,
  nextAbandonStreak,
  readAbandonStreak,
} from '../../lib/gate/launch.js';
import { createLoopbackFleet, startMoto, type Moto } from '../helpers/moto.js';

describe('launch gate: Auto Scaling over the wire (moto)', function () {
  this.timeout(60_000);
  let moto: Moto;
  let client: AutoScalingClient;
  let adapter: AutoScalingAdapter;
  let tags: AutoScalingGroupTags;

  before(async () => {
    moto = await startMoto();
    client = new AutoScalingClient(moto.clientConfig);
    adapter = new AutoScalingAdapter(client);
    tags = new AutoScalingGroupTags(client);
  });
  after(async () => {
    client.destroy();
    await moto.stop();
  });

  it('stores a launch hook and describes it with its transition and timing', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'launch-hook', size: 1 });
    await client.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: fleet.groupName,
        LifecycleHookName: 'themis-launch',
        LifecycleTransition: LAUNCHING,
        HeartbeatTimeout: 300,
        DefaultResult: 'CONTINUE',
      }),
    );
    const hook = await adapter.describeHook(fleet.groupName, 'themis-launch');
    expect(hook).to.deep.include({
      hookName: 'themis-launch',
      transition: LAUNCHING,
      heartbeatTimeoutSeconds: 300,
      globalTimeoutSeconds: 30_000,
      defaultResult: 'CONTINUE',
    });
  });

  it('does not implement CompleteLifecycleAction: the adapter reports that as a retryable failure naming the call', async () => {
    // moto answers an HTML "not implemented" page; the gate then fails the step and its
    // delivery is retried. Completions themselves are the fleet simulator's (sim/fleet.ts).
    const fleet = await createLoopbackFleet(moto, { groupName: 'launch-complete', size: 1 });
    await client.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: fleet.groupName,
        LifecycleHookName: 'themis-launch',
        LifecycleTransition: LAUNCHING,
      }),
    );
    const ref = {
      groupName: fleet.groupName,
      hookName: 'themis-launch',
      instanceId: fleet.instanceIds[0]!,
    };
    const err = await adapter.complete(ref, 'ABANDON').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as Error).message).to.contain(
      `CompleteLifecycleAction ABANDON launch-complete/themis-launch ${ref.instanceId}`,
    );
  });

  it('writes the abandon count as a group tag the next step reads, and deletes it', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'launch-count', size: 1 });
    const next = nextAbandonStreak({ count: 2 }, Date.parse('2024-05-01T12:00:00Z'));
    await tags.setTag(fleet.groupName, LAUNCH_ABANDONS_TAG, next.tagValue);
    const [group] = await adapter.describeGroups([fleet.groupName]);
    expect(readAbandonStreak(group!.tags)).to.deep.equal({
      count: 3,
      lastMs: Date.parse('2024-05-01T12:00:00Z'),
    });
    await tags.setTag(fleet.groupName, LAUNCH_ABANDONS_TAG, undefined);
    const [after] = await adapter.describeGroups([fleet.groupName]);
    expect(after!.tags).to.not.have.property(LAUNCH_ABANDONS_TAG);
  });
});
