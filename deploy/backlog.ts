/**
 * Scaling queue-driven worker groups on their backlog (docs/queues.md), from the params:
 *
 * - `backlogTargets` ("workers=20,render=3"): per group, an AWS::AutoScaling::ScalingPolicy
 *   that tracks themis's BacklogPerInstance metric for that group at the target given;
 * - `backlogQueueArns`: the work queues the protect function may read
 *   (sqs:GetQueueAttributes), as a policy on its role.
 *
 * Which queue belongs to which group is not deploy-time knowledge: the group's tag
 * themis:queue-url (or the `queueUrl` param, THEMIS_QUEUE_URL) says so at run time.
 */
import { BACKLOG_METRIC, GROUP_DIMENSION } from '../lib/protect/metrics.js';
import { perGroupLogicalId } from './iam.js';
import type { DeployParams } from './params.js';

/** Powertools adds the service name as a dimension of every metric it publishes. */
const SERVICE_DIMENSION = 'service';

/**
 * Target tracking reads high-resolution metrics in 10-second periods (10, 30 and 60 are
 * accepted). Protect stores them at high resolution only when it scans more than once a
 * minute; with one scan a minute there is one point a minute, so the period is 60 s.
 */
const HIGH_RESOLUTION_PERIOD_SECONDS = 10;
const STANDARD_PERIOD_SECONDS = 60;

/**
 * The protect role's read of the work queues and a scaling policy per group. `namespace`
 * and `service` are what protect publishes under (serverless.yml's
 * POWERTOOLS_METRICS_NAMESPACE and protect's POWERTOOLS_SERVICE_NAME).
 */
export function backlogResources(
  p: DeployParams,
  namespace: string,
  service: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.backlogQueueArns.length) {
    out.ProtectReadWorkQueuesPolicy = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'themis-work-queues',
        Roles: [{ Ref: 'ProtectRole' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'ReadWorkQueueDepth',
              Effect: 'Allow',
              Action: ['sqs:GetQueueAttributes'],
              Resource: p.backlogQueueArns,
            },
          ],
        },
      },
    };
  }
  for (const { group, target } of p.backlogTargets) {
    out[perGroupLogicalId('BacklogScaling', group)] = {
      Type: 'AWS::AutoScaling::ScalingPolicy',
      Properties: {
        AutoScalingGroupName: group,
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingConfiguration: {
          TargetValue: target,
          CustomizedMetricSpecification: {
            Namespace: namespace,
            MetricName: BACKLOG_METRIC,
            Dimensions: [
              { Name: SERVICE_DIMENSION, Value: service },
              { Name: GROUP_DIMENSION, Value: group },
            ],
            Statistic: 'Average',
            Period:
              p.scansPerInvocation > 1 ? HIGH_RESOLUTION_PERIOD_SECONDS : STANDARD_PERIOD_SECONDS,
          },
        },
      },
    };
  }
  return out;
}
