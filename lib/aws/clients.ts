/**
 * The AWS SDK v3 clients themis uses, built once per Lambda container (module scope in
 * functions/*.ts) with one retry policy.
 *
 * Endpoint: the SDK reads AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) by itself, so
 * pointing themis at moto_server needs no code here; test/aws/moto-wire.test.ts checks it
 * for all five clients.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';

/**
 * Auto Scaling's API rate limits are per account and region, shared with every other tool
 * in the account. A big scale-in starts many gate invocations at once, each heartbeating and
 * describing, while protect scans run: throttling is expected, not exceptional. Adaptive
 * mode adds a client-side token bucket that slows this container down when AWS throttles,
 * instead of hammering the API with retries.
 *
 * Six attempts: throttled retries back off from 0.5 s, doubling with full jitter, so five
 * retries wait ~15 s on average and ~31 s at worst — long enough to ride out a burst, short
 * enough to leave most of a one-minute protect run or a gate step to the work itself. A call
 * that still fails throws, and the next scan or the SQS redelivery tries again.
 */
export const MAX_ATTEMPTS = 6;

export interface AwsClientConfig {
  /** Absent when neither the argument nor AWS_REGION gives one: the SDK's own chain decides. */
  region?: string;
  retryMode: 'adaptive';
  maxAttempts: number;
}

/** The shared client options; the region defaults to AWS_REGION (set in every Lambda). */
export function clientConfig(region: string | undefined = process.env.AWS_REGION): AwsClientConfig {
  return { ...(region ? { region } : {}), retryMode: 'adaptive', maxAttempts: MAX_ATTEMPTS };
}

export interface AwsClients {
  autoScaling: AutoScalingClient;
  ec2: EC2Client;
  sns: SNSClient;
  sqs: SQSClient;
  ssm: SSMClient;
}

/**
 * One client per service, all with the same policy. Each adaptive client keeps its own rate
 * limiter, which is why they are built once and shared, never per call.
 */
export function createAwsClients(region?: string): AwsClients {
  const config = clientConfig(region);
  return {
    autoScaling: new AutoScalingClient(config),
    ec2: new EC2Client(config),
    sns: new SNSClient(config),
    sqs: new SQSClient(config),
    ssm: new SSMClient(config),
  };
}
