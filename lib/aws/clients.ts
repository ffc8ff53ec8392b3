/**
 * The AWS SDK v3 clients themis uses, built once per Lambda container (module scope in
 * functions/*.ts) with one retry policy and one bound on each HTTP attempt.
 *
 * Endpoint: the SDK reads AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) by itself, so
 * pointing themis at moto_server needs no code here; test/aws/moto-wire.test.ts checks it
 * for all five clients.
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { loadSsmSdk, type SsmClientSource } from './ssm.js';

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
 * that still fails throws, and the next scan or the SQS redelivery tries again. Whatever the
 * retries would take, a caller's abort signal (its deadline) ends the call sooner.
 */
export const MAX_ATTEMPTS = 6;

/**
 * Bounds on one HTTP attempt, so that a single hung attempt — a connection never accepted,
 * a request never answered, an answer that stalls half-way (a NAT gateway dropping packets,
 * an endpoint in trouble) — fails as a retryable TimeoutError and the next attempt gets its
 * turn, instead of eating the step's whole budget until the caller's deadline aborts it.
 * Without them the SDK waits for ever: its defaults are 0 (no limit).
 *
 * - connect: a regional endpoint (through a NAT gateway or a VPC endpoint) accepts in tens
 *   of milliseconds; 3 s allows a lost SYN and its retransmission (1 s later) and no more.
 * - request: from sending to the response headers; every call themis makes (at most a
 *   100-group DescribeAutoScalingGroups page) is answered in well under a second. 5 s is a
 *   slow answer with room to spare, and still leaves a step time for a retry.
 *   `throwOnRequestTimeout`: without it the SDK only logs a warning when the time is up.
 * - socket: the same 5 s of silence once the headers came (a body that stops arriving).
 */
export const ATTEMPT_TIMEOUTS = {
  connectionTimeout: 3000,
  requestTimeout: 5000,
  socketTimeout: 5000,
  throwOnRequestTimeout: true,
} as const;

/** The per-attempt bounds, in the shape of the SDK's NodeHttpHandler options. */
export interface AttemptTimeouts {
  connectionTimeout: number;
  requestTimeout: number;
  socketTimeout: number;
  throwOnRequestTimeout: true;
}

export interface AwsClientConfig {
  /** Absent when neither the argument nor AWS_REGION gives one: the SDK's own chain decides. */
  region?: string;
  retryMode: 'adaptive';
  maxAttempts: number;
  /** NodeHttpHandler options; the SDK builds its handler from them. */
  requestHandler: AttemptTimeouts;
}

/** The shared client options; the region defaults to AWS_REGION (set in every Lambda). */
export function clientConfig(
  region: string | undefined = process.env.AWS_REGION,
  timeouts: AttemptTimeouts = ATTEMPT_TIMEOUTS,
): AwsClientConfig {
  return {
    ...(region ? { region } : {}),
    retryMode: 'adaptive',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { ...timeouts },
  };
}

export interface AwsClients {
  autoScaling: AutoScalingClient;
  ec2: EC2Client;
  sns: SNSClient;
  sqs: SQSClient;
  /** The SSM client, or (from createAwsClients) how to build it on first use. */
  ssm: SsmClientSource;
}

/**
 * One client per service, all with the same policy. Each adaptive client keeps its own rate
 * limiter, which is why they are built once and shared, never per call. The SSM client is
 * built (and its SDK loaded) only when the gate first reaches for a command: a stack with
 * no pre-termination command never loads it, and its cold start does not pay for it.
 */
export function createAwsClients(region?: string, timeouts?: AttemptTimeouts): AwsClients {
  const config = clientConfig(region, timeouts);
  let ssm: Promise<SSMClient> | undefined;
  return {
    autoScaling: new AutoScalingClient(config),
    ec2: new EC2Client(config),
    sns: new SNSClient(config),
    sqs: new SQSClient(config),
    ssm: () =>
      (ssm ??= loadSsmSdk().then(
        (sdk) => new sdk.SSMClient(config),
        (err: unknown) => {
          ssm = undefined;
          throw err;
        },
      )),
  };
}

/** Close every client's sockets (tests and tools; a Lambda container keeps them). */
export async function destroyAwsClients(clients: AwsClients): Promise<void> {
  const { ssm, ...eager } = clients;
  for (const client of Object.values(eager)) client.destroy();
  (typeof ssm === 'function' ? await ssm() : ssm).destroy();
}
