/**
 * The adapters over the wire against an endpoint that never answers (a loopback server that
 * reads every request and sends nothing back, reached through AWS_ENDPOINT_URL as in
 * production): the production clients and adapters, real HTTP, real SDK retries.
 *
 * Broken variants tried: an adapter method calling `client.send(command)` without the
 * signal (its row below stays pending past the bound: the SDK waits 5 s per attempt, six
 * attempts); the per-attempt bounds not handed to the clients, or handed over without
 * `throwOnRequestTimeout` and a socket timeout (a hung attempt is never cut — the SDK only
 * logs — and the last test stays pending).
 */
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import {
  createAwsClients,
  destroyAwsClients,
  MAX_ATTEMPTS,
  type AwsClients,
} from '../../lib/aws/clients.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { SsmCommands } from '../../lib/aws/ssm.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';
import type { CallOptions } from '../../lib/ports.js';
import { Deadline } from '../../lib/time.js';
import { startHungEndpoint, type HungEndpoint } from '../helpers/hung-endpoint.js';

/** Far below one attempt's own bound (5 s), so only the signal can have ended the call. */
const SETTLE_BOUND_MS = 1000;
const DEADLINE_MS = 200;

/** The outcome of `promise` (its value or error), or 'still pending' after `ms`. */
async function within(ms: number, promise: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise((resolve) => {
    timer = setTimeout(() => resolve('still pending'), ms);
  });
  try {
    return await Promise.race([promise.catch((err: unknown) => err), pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('aws adapters against an endpoint that never answers', function () {
  let endpoint: HungEndpoint;
  let saved: string | undefined;
  let clients: AwsClients | undefined;

  beforeEach(async () => {
    endpoint = await startHungEndpoint();
    saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = endpoint.url;
  });
  afterEach(async () => {
    if (clients) await destroyAwsClients(clients);
    clients = undefined;
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = saved;
    await endpoint.close();
  });

  const calls: [string, (c: AwsClients, opts: CallOptions) => Promise<unknown>][] = [
    [
      'DescribeAutoScalingGroups',
      (c, o) => new AutoScalingAdapter(c.autoScaling).describeGroups(['g'], o),
    ],
    [
      'RecordLifecycleActionHeartbeat',
      (c, o) =>
        new AutoScalingAdapter(c.autoScaling).recordHeartbeat(
          { groupName: 'g', hookName: 'themis', instanceId: 'i-1' },
          o,
        ),
    ],
    ['DescribeInstances', (c, o) => new Ec2Addresses(c.ec2).privateAddresses(['i-1'], o)],
    [
      'Publish',
      (c, o) =>
        new SnsNotifications(c.sns, 'arn:aws:sns:us-east-1:123456789012:t').publish(
          { subject: 's', message: 'm', attributes: { event: 'released' } },
          o,
        ),
    ],
    [
      'SendMessage',
      (c, o) => new SqsRechecks(c.sqs, `${endpoint.url}/123456789012/q`).schedule('{}', 30, o),
    ],
    ['GetCommandInvocation', (c, o) => new SsmCommands(c.ssm).status('c-1', 'i-1', o)],
  ];

  for (const [operation, call] of calls) {
    it(`settles a ${operation} call as soon as its deadline passes`, async () => {
      clients = createAwsClients('us-east-1');
      const client = clients;
      let adapterCall: Promise<unknown> | undefined;

      // The gate's pattern: the deadline races the call and aborts its signal.
      const raced = Deadline.after(DEADLINE_MS).run(operation, (signal) => {
        adapterCall = call(client, { signal });
        return adapterCall;
      });
      await raced.catch(() => undefined);
      // What matters here is the adapter's own promise: it must not linger on.
      const outcome = await within(SETTLE_BOUND_MS, adapterCall!);

      expect(outcome).to.be.instanceOf(UpstreamError);
      expect(awsErrorName(outcome)).to.equal('DeadlineExceededError');
      // The request did reach the endpoint: it was cut, not refused before it left.
      expect(endpoint.requests()).to.be.at.least(1);
    });
  }

  it('cuts each hung attempt at the client’s own timeout and retries, without any signal', async () => {
    // The production bounds are seconds; scaled down here so six attempts take ~2 s.
    clients = createAwsClients('us-east-1', {
      connectionTimeout: 1000,
      requestTimeout: 200,
      socketTimeout: 200,
      throwOnRequestTimeout: true,
    });

    const outcome = await within(
      15_000,
      new SqsRechecks(clients.sqs, `${endpoint.url}/123456789012/q`).schedule('{}', 30),
    );

    expect(outcome).to.be.instanceOf(UpstreamError);
    expect(awsErrorName(outcome)).to.equal('TimeoutError');
    expect(endpoint.requests()).to.equal(MAX_ATTEMPTS);
  });
});
