import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { AutoScalingAdapter } from '../aws/auto-scaling.js';
import { clientConfig } from '../aws/clients.js';
import { Ec2Addresses } from '../aws/ec2.js';
import { lazySqsClient, SqsBacklog } from '../aws/sqs-backlog.js';
import type { EcsClusterState, Notifications, Rechecks } from '../ports.js';
import type { RegionalPorts } from '../ports.js';

/**
 * The SDK-backed ports a scan needs in one region, with the shared retry policy. `region`
 * undefined: the SDK's own chain decides (AWS_REGION, the profile) — the CLI's case.
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
    retained: autoScaling,
    addresses: new Ec2Addresses(new EC2Client(clientConfig(region))),
    ecs: ecsOnDemand(region),
    // The SQS client is built (and its SDK loaded) only when a group names a queue.
    backlog: new SqsBacklog(lazySqsClient(region)),
  };
}

/**
 * ECS mode's port, with the ECS SDK loaded (a dynamic import) and its client built on the
 * first call: only groups with an ECS cluster configured ever call it, and a protect cold
 * start without one should not pay for the client (bench/package.ts measures the import).
 * A failed load is not remembered: the next call tries again.
 */
export function ecsOnDemand(region?: string): EcsClusterState {
  let adapter: Promise<EcsClusterState> | undefined;
  const load = (): Promise<EcsClusterState> => {
    adapter ??= Promise.all([import('@aws-sdk/client-ecs'), import('../aws/ecs.js')]).then(
      ([sdk, { EcsAdapter }]) => new EcsAdapter(new sdk.ECSClient(clientConfig(region))),
      (err: unknown) => {
        adapter = undefined;
        throw err;
      },
    );
    return adapter;
  };
  return {
    containerInstances: async (...args) => (await load()).containerInstances(...args),
    tasks: async (...args) => (await load()).tasks(...args),
    services: async (...args) => (await load()).services(...args),
    serviceArns: async (...args) => (await load()).serviceArns(...args),
    taskReservation: async (...args) => (await load()).taskReservation(...args),
  };
}

/**
 * The outcome topic for "released retained" notices, with the SNS SDK loaded and its client
 * built on the first Publish: most scans never publish, and a protect cold start should not
 * pay for the client. A failed load is not remembered.
 */
export function snsOnDemand(topicArn: string, region?: string): Notifications {
  let adapter: Promise<Notifications> | undefined;
  return {
    publish: async (notice, opts) => {
      adapter ??= Promise.all([import('@aws-sdk/client-sns'), import('../aws/sns.js')]).then(
        ([sdk, { SnsNotifications }]) =>
          new SnsNotifications(new sdk.SNSClient(clientConfig(region)), topicArn),
        (err: unknown) => {
          adapter = undefined;
          throw err;
        },
      );
      return (await adapter).publish(notice, opts);
    },
  };
}

/**
 * The gate's recheck queue, for a "released retained" notice SNS refused: the SQS SDK is
 * loaded and its client built on the first SendMessage only (a protect cold start should not
 * pay for it; most never send). A failed load is not remembered.
 */
export function rechecksOnDemand(queueUrl: string, region?: string): Rechecks {
  const client = lazySqsClient(region);
  let adapter: Promise<Rechecks> | undefined;
  return {
    schedule: async (body, delaySeconds, opts) => {
      adapter ??= Promise.all([client(), import('../aws/sqs.js')]).then(
        ([sqs, { SqsRechecks }]) => new SqsRechecks(sqs, queueUrl),
        (err: unknown) => {
          adapter = undefined;
          throw err;
        },
      );
      return (await adapter).schedule(body, delaySeconds, opts);
    },
  };
}
