/**
 * Auto Scaling behind three ports: the group directory, scale-in protection and lifecycle
 * actions. Each method is one API operation (paginated where the API pages); policy —
 * batching, fallbacks, what 'gone' means for the flow — lives above, in lib/protect and
 * lib/gate.
 *
 * Every call runs under the caller's signal (`sendUnder`); a paginated or chunked method
 * asks for no further page once the signal has aborted.
 */
import {
  DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
  documentedGlobalTimeoutSeconds,
  MAX_GROUP_NAMES_PER_CALL,
  MAX_RECORDS_PER_PAGE,
  RETAIN_ON_ABANDON,
} from './facts.js';
import {
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
  type AutoScalingGroup,
  type DescribeAutoScalingGroupsCommandInput,
  type LifecycleHook,
} from '@aws-sdk/client-auto-scaling';
import { isNoActiveLifecycleAction, isValidationError, UpstreamError } from '../errors.js';
import {
  MAX_PROTECTION_BATCH,
  type CallOptions,
  type GroupDirectory,
  type GroupSnapshot,
  type HookInfo,
  type InstanceProtection,
  type LifecycleActionRef,
  type LifecycleActions,
  type LifecycleResult,
  type RetainedInstances,
} from '../ports.js';
import { chunk, listForMessage, nextToken, sendUnder } from './util.js';

// We always ask for 100 per page (MaxRecords' maximum) so one call covers a chunk of names.
export { MAX_GROUP_NAMES_PER_CALL };
const MAX_RECORDS = MAX_RECORDS_PER_PAGE;

export class AutoScalingAdapter
  implements GroupDirectory, InstanceProtection, LifecycleActions, RetainedInstances
{
  constructor(private readonly client: AutoScalingClient) {}

  async describeGroups(names: string[], opts?: CallOptions): Promise<GroupSnapshot[]> {
    const unique = [...new Set(names)];
    const groups: GroupSnapshot[] = [];
    for (const batch of chunk(unique, MAX_GROUP_NAMES_PER_CALL)) {
      groups.push(
        ...(await this.listGroups(
          { AutoScalingGroupNames: batch },
          `DescribeAutoScalingGroups ${listForMessage(batch)}`,
          opts,
        )),
      );
    }
    return groups;
  }

  findGroupsByTag(key: string, value: string, opts?: CallOptions): Promise<GroupSnapshot[]> {
    return this.listGroups(
      { Filters: [{ Name: `tag:${key}`, Values: [value] }] },
      `DescribeAutoScalingGroups tag:${key}=${value}`,
      opts,
    );
  }

  async setInstanceProtection(
    groupName: string,
    instanceIds: string[],
    protect: boolean,
    opts?: CallOptions,
  ): Promise<void> {
    // A programming error above this port, not an AWS answer: say so before calling.
    if (instanceIds.length > MAX_PROTECTION_BATCH) {
      throw new Error(
        `setInstanceProtection takes at most ${MAX_PROTECTION_BATCH} instances per call, got ${instanceIds.length} (batch in lib/protect)`,
      );
    }
    if (instanceIds.length === 0) return;
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new SetInstanceProtectionCommand({
            AutoScalingGroupName: groupName,
            InstanceIds: instanceIds,
            ProtectedFromScaleIn: protect,
          }),
          o,
        ),
      );
    } catch (cause) {
      throw new UpstreamError(
        `SetInstanceProtection ${protect ? 'on' : 'off'} ${groupName} ${listForMessage(instanceIds)}`,
        { cause },
      );
    }
  }

  async terminateRetained(instanceId: string, opts?: CallOptions): Promise<void> {
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new TerminateInstanceInAutoScalingGroupCommand({
            InstanceId: instanceId,
            // A retained instance no longer counts toward the desired capacity: decrementing
            // would shrink the group by one more instance than is leaving.
            ShouldDecrementDesiredCapacity: false,
          }),
          o,
        ),
      );
    } catch (cause) {
      throw new UpstreamError(`TerminateInstanceInAutoScalingGroup ${instanceId}`, { cause });
    }
  }

  async recordHeartbeat(
    action: LifecycleActionRef,
    opts?: CallOptions,
  ): Promise<'recorded' | 'gone'> {
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: action.groupName,
            LifecycleHookName: action.hookName,
            ...identify(action),
          }),
          o,
        ),
      );
      return 'recorded';
    } catch (cause) {
      if (isNoActiveLifecycleAction(cause)) return 'gone';
      throw new UpstreamError(`RecordLifecycleActionHeartbeat ${describeAction(action)}`, {
        cause,
      });
    }
  }

  async complete(
    action: LifecycleActionRef,
    result: LifecycleResult,
    opts?: CallOptions,
  ): Promise<'completed' | 'gone'> {
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: action.groupName,
            LifecycleHookName: action.hookName,
            LifecycleActionResult: result,
            ...identify(action),
          }),
          o,
        ),
      );
      return 'completed';
    } catch (cause) {
      if (isNoActiveLifecycleAction(cause)) return 'gone';
      throw new UpstreamError(`CompleteLifecycleAction ${result} ${describeAction(action)}`, {
        cause,
      });
    }
  }

  async describeHook(
    groupName: string,
    hookName: string,
    opts?: CallOptions,
  ): Promise<HookInfo | undefined> {
    let hooks: LifecycleHook[];
    try {
      const out = await sendUnder(opts, (o) =>
        this.client.send(
          new DescribeLifecycleHooksCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookNames: [hookName],
          }),
          o,
        ),
      );
      hooks = out.LifecycleHooks ?? [];
    } catch (cause) {
      // A deleted group takes its hooks with it; Auto Scaling says "… not found".
      if (isValidationError(cause) && /not found/i.test(String((cause as Error).message))) {
        return undefined;
      }
      throw new UpstreamError(`DescribeLifecycleHooks ${groupName}/${hookName}`, { cause });
    }
    const hook = hooks.find((h) => h.LifecycleHookName === hookName);
    return hook ? toHookInfo(hook, groupName) : undefined;
  }

  /**
   * Every page of one DescribeAutoScalingGroups query, followed by NextToken in a loop of
   * our own (the SDK's paginators take no abort signal).
   */
  private async listGroups(
    input: DescribeAutoScalingGroupsCommandInput,
    operation: string,
    opts: CallOptions | undefined,
  ): Promise<GroupSnapshot[]> {
    const groups: GroupSnapshot[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await sendUnder(opts, (o) =>
          this.client.send(
            new DescribeAutoScalingGroupsCommand({
              ...input,
              MaxRecords: MAX_RECORDS,
              ...(token ? { NextToken: token } : {}),
            }),
            o,
          ),
        );
        for (const group of page.AutoScalingGroups ?? []) groups.push(toSnapshot(group));
        token = nextToken(token, page.NextToken);
      } while (token);
    } catch (cause) {
      throw new UpstreamError(operation, { cause });
    }
    return groups;
  }
}

/**
 * The token identifies one action precisely (a re-launched instance id cannot be confused
 * with it); the instance id is the fallback the API also accepts.
 */
function identify(
  action: LifecycleActionRef,
): { LifecycleActionToken: string } | { InstanceId: string } {
  return action.token ? { LifecycleActionToken: action.token } : { InstanceId: action.instanceId };
}

/** For error messages: never the token (it is a capability for the action). */
function describeAction(action: LifecycleActionRef): string {
  return `${action.groupName}/${action.hookName} ${action.instanceId}`;
}

function toSnapshot(group: AutoScalingGroup): GroupSnapshot {
  const tags: Record<string, string> = {};
  for (const tag of group.Tags ?? []) {
    if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  }
  return {
    name: group.AutoScalingGroupName ?? '',
    ...(group.AutoScalingGroupARN ? { arn: group.AutoScalingGroupARN } : {}),
    instances: (group.Instances ?? []).flatMap((i) =>
      i.InstanceId
        ? [
            {
              instanceId: i.InstanceId,
              ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
              lifecycleState: i.LifecycleState ?? 'Unknown',
              ...(i.HealthStatus ? { healthStatus: i.HealthStatus } : {}),
              protectedFromScaleIn: i.ProtectedFromScaleIn ?? false,
            },
          ]
        : [],
    ),
    tags,
    ...(group.InstanceLifecyclePolicy?.RetentionTriggers?.TerminateHookAbandon === RETAIN_ON_ABANDON
      ? { retainsOnAbandon: true }
      : {}),
  };
}

/**
 * The global timeout is documented as min(48 h, 100 × HeartbeatTimeout). We take the
 * smallest of that and what the API reports, because moto (and possibly other stand-ins)
 * reports 172800 whatever the heartbeat timeout: trusting a too-large value would let the
 * gate plan past the moment Auto Scaling gives up on the action.
 */
export function globalTimeoutSeconds(
  reportedSeconds: number | undefined,
  heartbeatTimeoutSeconds: number,
): number {
  const documented = documentedGlobalTimeoutSeconds(heartbeatTimeoutSeconds);
  return Math.min(reportedSeconds ?? documented, documented);
}

export function toHookInfo(hook: LifecycleHook, groupName: string): HookInfo {
  const heartbeatTimeoutSeconds = hook.HeartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT_SECONDS;
  return {
    hookName: hook.LifecycleHookName ?? '',
    groupName: hook.AutoScalingGroupName ?? groupName,
    transition: hook.LifecycleTransition ?? '',
    heartbeatTimeoutSeconds,
    globalTimeoutSeconds: globalTimeoutSeconds(hook.GlobalTimeout, heartbeatTimeoutSeconds),
    // ABANDON is the API's default when a hook has none.
    defaultResult: hook.DefaultResult === 'CONTINUE' ? 'CONTINUE' : 'ABANDON',
    ...(hook.NotificationMetadata !== undefined
      ? { notificationMetadata: hook.NotificationMetadata }
      : {}),
  };
}
