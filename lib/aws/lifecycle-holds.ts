/**
 * What the operator CLI reads about instances held by lifecycle hooks: the group's hooks,
 * its recent scaling activities (when a lifecycle action started) and its warm pool. One API
 * operation per method, read-only; what the answers mean lives in lib/cli/holds.ts.
 */
import {
  DescribeLifecycleHooksCommand,
  DescribeScalingActivitiesCommand,
  DescribeWarmPoolCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { UpstreamError } from '../errors.js';
import type {
  CallOptions,
  GroupInstance,
  HookInfo,
  LifecycleHolds,
  ScalingActivity,
} from '../ports.js';
import { toHookInfo } from './auto-scaling.js';
import { nextToken as next, sendUnder } from './util.js';

/** DescribeScalingActivities and DescribeWarmPool return at most 100 records per page. */
const MAX_RECORDS_PER_PAGE = 100;

export class AutoScalingHolds implements LifecycleHolds {
  constructor(private readonly client: AutoScalingClient) {}

  async listHooks(groupName: string, opts?: CallOptions): Promise<HookInfo[]> {
    try {
      const out = await sendUnder(opts, (o) =>
        this.client.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: groupName }), o),
      );
      return (out.LifecycleHooks ?? []).map((h) => toHookInfo(h, groupName));
    } catch (cause) {
      throw new UpstreamError(`DescribeLifecycleHooks ${groupName}`, { cause });
    }
  }

  async recentActivities(
    groupName: string,
    maxCount: number,
    opts?: CallOptions,
  ): Promise<ScalingActivity[]> {
    const activities: ScalingActivity[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const input = {
          AutoScalingGroupName: groupName,
          MaxRecords: Math.min(MAX_RECORDS_PER_PAGE, maxCount - activities.length),
          ...(nextToken ? { NextToken: nextToken } : {}),
        };
        const out = await sendUnder(opts, (o) =>
          this.client.send(new DescribeScalingActivitiesCommand(input), o),
        );
        for (const a of out.Activities ?? []) {
          activities.push({
            description: a.Description ?? '',
            statusCode: a.StatusCode ?? '',
            ...(a.StartTime ? { startTimeMs: a.StartTime.getTime() } : {}),
          });
        }
        // A token handed back unchanged would page for ever: an error instead.
        nextToken = next(nextToken, out.NextToken);
      } while (nextToken && activities.length < maxCount);
    } catch (cause) {
      throw new UpstreamError(`DescribeScalingActivities ${groupName}`, { cause });
    }
    return activities.slice(0, maxCount);
  }

  async warmPoolInstances(groupName: string, opts?: CallOptions): Promise<GroupInstance[]> {
    const instances: GroupInstance[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const input = {
          AutoScalingGroupName: groupName,
          MaxRecords: MAX_RECORDS_PER_PAGE,
          ...(nextToken ? { NextToken: nextToken } : {}),
        };
        const out = await sendUnder(opts, (o) =>
          this.client.send(new DescribeWarmPoolCommand(input), o),
        );
        for (const i of out.Instances ?? []) {
          if (!i.InstanceId) continue;
          instances.push({
            instanceId: i.InstanceId,
            ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
            lifecycleState: i.LifecycleState ?? 'Unknown',
            ...(i.HealthStatus ? { healthStatus: i.HealthStatus } : {}),
            protectedFromScaleIn: i.ProtectedFromScaleIn ?? false,
          });
        }
        nextToken = next(nextToken, out.NextToken);
      } while (nextToken);
    } catch (cause) {
      throw new UpstreamError(`DescribeWarmPool ${groupName}`, { cause });
    }
    return instances;
  }
}
