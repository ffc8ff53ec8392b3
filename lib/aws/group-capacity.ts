/**
 * Sizing an Auto Scaling group for the scale function: its limits and members, one step of
 * desired capacity, and terminating one instance with a decrement (which goes through the
 * group's lifecycle hooks, so the gate holds the instance until its tasks have stopped).
 */
import {
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { UpstreamError } from '../errors.js';
import type { CallOptions, GroupCapacity, GroupCapacityInfo } from '../ports.js';

function signalOf(opts?: CallOptions): { abortSignal?: AbortSignal } {
  return opts?.signal ? { abortSignal: opts.signal } : {};
}

export class AutoScalingCapacity implements GroupCapacity {
  constructor(private readonly client: AutoScalingClient) {}

  async describeCapacity(
    groupName: string,
    opts?: CallOptions,
  ): Promise<GroupCapacityInfo | undefined> {
    let group;
    try {
      // One name: one page (a group's instances come inside it, not paginated separately).
      const out = await this.client.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
        signalOf(opts),
      );
      group = out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
    } catch (cause) {
      throw new UpstreamError(`DescribeAutoScalingGroups ${groupName}`, { cause });
    }
    if (!group) return undefined;
    return {
      name: groupName,
      minSize: group.MinSize ?? 0,
      maxSize: group.MaxSize ?? 0,
      desiredCapacity: group.DesiredCapacity ?? 0,
      instances: (group.Instances ?? []).flatMap((i) =>
        i.InstanceId
          ? [
              {
                instanceId: i.InstanceId,
                lifecycleState: i.LifecycleState ?? 'Unknown',
                protectedFromScaleIn: i.ProtectedFromScaleIn ?? false,
                ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
                ...(i.HealthStatus ? { healthStatus: i.HealthStatus } : {}),
              },
            ]
          : [],
      ),
    };
  }

  async setDesiredCapacity(
    groupName: string,
    desiredCapacity: number,
    opts?: CallOptions,
  ): Promise<void> {
    try {
      await this.client.send(
        // HonorCooldown: the scale function runs once a minute and takes one step at a time;
        // a cooldown would only make it skip a step it has already decided on.
        new SetDesiredCapacityCommand({
          AutoScalingGroupName: groupName,
          DesiredCapacity: desiredCapacity,
          HonorCooldown: false,
        }),
        signalOf(opts),
      );
    } catch (cause) {
      throw new UpstreamError(`SetDesiredCapacity ${groupName} ${desiredCapacity}`, { cause });
    }
  }

  async terminateInstance(instanceId: string, opts?: CallOptions): Promise<void> {
    try {
      await this.client.send(
        new TerminateInstanceInAutoScalingGroupCommand({
          InstanceId: instanceId,
          ShouldDecrementDesiredCapacity: true,
        }),
        signalOf(opts),
      );
    } catch (cause) {
      throw new UpstreamError(`TerminateInstanceInAutoScalingGroup ${instanceId}`, { cause });
    }
  }
}
