/** Events as AWS delivers them to themis, built in one place for every test that needs one. */

export const ACCOUNT_ID = '123456789012';

export interface LifecycleEventOptions {
  group: string;
  hook: string;
  instanceId: string;
  token: string;
  /** EventBridge `time`; defaults to now. */
  time?: string;
  region?: string;
  /** The hook's NotificationMetadata; absent when undefined, as for a hook without one. */
  metadata?: string;
  transition?: string;
  id?: string;
}

/**
 * The EventBridge event "EC2 Instance-terminate Lifecycle Action" that Auto Scaling emits
 * when a hook puts an instance in Terminating:Wait.
 */
export function lifecycleEvent(options: LifecycleEventOptions) {
  const region = options.region ?? 'us-east-1';
  return {
    version: '0',
    id: options.id ?? '468fad2e-6d1d-4a4a-9f3d-1b3f6c1e2a7b',
    'detail-type': 'EC2 Instance-terminate Lifecycle Action',
    source: 'aws.autoscaling',
    account: ACCOUNT_ID,
    time: options.time ?? new Date().toISOString(),
    region,
    resources: [
      `arn:aws:autoscaling:${region}:${ACCOUNT_ID}:autoScalingGroup:uuid:autoScalingGroupName/${options.group}`,
    ],
    detail: {
      LifecycleActionToken: options.token,
      AutoScalingGroupName: options.group,
      LifecycleHookName: options.hook,
      EC2InstanceId: options.instanceId,
      LifecycleTransition: options.transition ?? 'autoscaling:EC2_INSTANCE_TERMINATING',
      ...(options.metadata !== undefined ? { NotificationMetadata: options.metadata } : {}),
      Origin: 'AutoScalingGroup',
      Destination: 'EC2',
    },
  };
}
