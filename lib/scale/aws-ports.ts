import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../aws/clients.js';
import { EcsAdapter } from '../aws/ecs.js';
import { AutoScalingCapacity } from '../aws/group-capacity.js';
import { SqsQueueDepth } from '../aws/queue-depth.js';
import { createMetricReader } from './metrics.js';
import type { ScaleDeps } from './run.js';

/** The SDK-backed ports the scale function needs, with the shared retry policy. */
export function createScalePorts(region?: string): Omit<ScaleDeps, 'log'> {
  const config = clientConfig(region);
  return {
    ecs: new EcsAdapter(new ECSClient(config)),
    groups: new AutoScalingCapacity(new AutoScalingClient(config)),
    metrics: createMetricReader({ queues: new SqsQueueDepth(new SQSClient(config)) }),
  };
}
