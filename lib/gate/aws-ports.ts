import { ECSClient } from '@aws-sdk/client-ecs';
import { AutoScalingAdapter } from '../aws/auto-scaling.js';
import { AutoScalingGroupTags } from '../aws/group-tags.js';
import { clientConfig, type AwsClients } from '../aws/clients.js';
import { Ec2Addresses } from '../aws/ec2.js';
import { EcsAdapter } from '../aws/ecs.js';
import { SnsNotifications } from '../aws/sns.js';
import { SqsRechecks } from '../aws/sqs.js';
import { SsmCommands } from '../aws/ssm.js';
import type { GateConfig } from './config.js';
import type { GateDeps } from './step.js';

export type GatePorts = Pick<
  GateDeps,
  | 'groups'
  | 'groupTags'
  | 'addresses'
  | 'lifecycle'
  | 'notifications'
  | 'rechecks'
  | 'commands'
  | 'ecs'
>;

/**
 * The SDK-backed ports the gate needs, over clients built once per container. Notifications
 * exist only with a topic. SSM commands always exist — a command in flight is followed to
 * its end even after the document setting was removed — but cost nothing until first used
 * (the SSM SDK is loaded then; see createAwsClients).
 */
export function createGatePorts(
  config: GateConfig,
  clients: AwsClients,
  /** For groups in ECS mode (lib/ecs); built here unless given. */
  ecsClient: ECSClient = new ECSClient(clientConfig()),
): GatePorts {
  const autoScaling = new AutoScalingAdapter(clients.autoScaling);
  return {
    ecs: new EcsAdapter(ecsClient),
    groups: autoScaling,
    groupTags: new AutoScalingGroupTags(clients.autoScaling),
    lifecycle: autoScaling,
    addresses: new Ec2Addresses(clients.ec2),
    rechecks: new SqsRechecks(clients.sqs, config.recheckQueueUrl),
    ...(config.topicArn
      ? { notifications: new SnsNotifications(clients.sns, config.topicArn) }
      : {}),
    commands: new SsmCommands(clients.ssm),
  };
}
