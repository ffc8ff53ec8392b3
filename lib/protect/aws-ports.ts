import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { AutoScalingAdapter } from '../aws/auto-scaling.js';
import { clientConfig } from '../aws/clients.js';
import { Ec2Addresses } from '../aws/ec2.js';
import { EcsAdapter } from '../aws/ecs.js';
import { lazySqsClient, SqsBacklog } from '../aws/sqs-backlog.js';
import type { RegionalPorts } from './handler.js';

/**
 * The SDK-backed ports a scan needs in one region (only the two clients protect uses), with
 * the shared retry policy. `region` undefined: the SDK's own chain decides (AWS_REGION, the
 * profile) — the CLI's case.
 */
export function createRegionalPorts(region?: string): RegionalPorts & {
  autoScalingClient: AutoScalingClient;
} {
  const autoScalingClient = new AutoScalingClient(clientConfig(region));
  const autoScaling = new AutoScalingAdapter(autoScalingClient);
  return {
    autoScalingClient,
    groups: autoScaling,
    protection: autoScaling,
    addresses: new Ec2Addresses(new EC2Client(clientConfig(region))),
    ecs: new EcsAdapter(new ECSClient(clientConfig(region))),
    // The SQS client is built (and its SDK loaded) only when a group names a queue.
    backlog: new SqsBacklog(lazySqsClient(region)),
  };
}
