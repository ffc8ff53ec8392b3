/** Auto Scaling SDK shapes for tests that mock the client (aws-sdk-client-mock). */
import { AutoScalingServiceException, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';

/** A client error as the SDK throws it, e.g. `autoScalingError('Throttling', 'Rate exceeded')`. */
export function autoScalingError(name: string, message: string): AutoScalingServiceException {
  return new AutoScalingServiceException({
    name,
    message,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

/** A group as DescribeAutoScalingGroups returns it: empty, unless `extra` says otherwise. */
export function sdkGroup(name: string, extra: Partial<AutoScalingGroup> = {}): AutoScalingGroup {
  return {
    AutoScalingGroupName: name,
    AutoScalingGroupARN: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/${name}`,
    MinSize: 0,
    MaxSize: 10,
    DesiredCapacity: 0,
    DefaultCooldown: 300,
    AvailabilityZones: ['us-east-1a'],
    HealthCheckType: 'EC2',
    CreatedTime: new Date(0),
    Instances: [],
    Tags: [],
    ...extra,
  };
}
