/**
 * isTransientError: which AWS failures may pass if asked again. The gate holds through those
 * without counting them (ECS mode: towards the unknown limit; launch gate: towards letting a
 * launch in unchecked), so a transient failure called permanent can release a busy instance.
 * The classification follows the SDK's own (it retries exactly these), checked here with a
 * real ECSClient whose transport fails the way node's does — nothing leaves the process.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { expect } from 'chai';
import { EcsAdapter } from '../lib/aws/ecs.js';
import { observeForGate } from '../lib/ecs/gate-source.js';
import { isTransientError, UpstreamError } from '../lib/errors.js';
import { Deadline } from '../lib/time.js';

const T0 = Date.parse('2024-05-01T12:00:00Z');

/** An ECSClient whose every attempt fails in its transport with `failure`. */
function ecsFailingWith(failure: () => Error) {
  let attempts = 0;
  const client = new ECSClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    requestHandler: {
      handle: async () => {
        attempts++;
        throw failure();
      },
    } as never,
  });
  return { adapter: new EcsAdapter(client), attempts: () => attempts };
}

const dnsFailure = () =>
  Object.assign(new Error('getaddrinfo ENOTFOUND ecs.eu-west-1.amazonaws.com'), {
    code: 'ENOTFOUND',
    errno: -3008,
    syscall: 'getaddrinfo',
  });

const awsError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name}: from the test`), { name, $fault: 'client', ...extra });

describe('isTransientError', () => {
  // Broken variant caught: ENOTFOUND missing from NETWORK_ERROR_CODES (as it was) — this test
  // sees false, and the gate released a busy ECS instance after three DNS failures.
  it('calls a DNS failure of an AWS endpoint transient, as the SDK does (it retries it)', async () => {
    const { adapter, attempts } = ecsFailingWith(dnsFailure);
    const caught = await adapter
      .containerInstances('jobs', { ec2InstanceIds: ['i-0123456789abcdef0'] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(attempts(), 'the SDK retried it').to.be.greaterThan(1);
    expect(caught).to.be.instanceOf(Error);
    expect(isTransientError(caught)).to.equal(true);
  });

  it('holds a busy ECS instance through a DNS failure without counting it (an API failure)', async () => {
    const { adapter } = ecsFailingWith(dnsFailure);
    const answer = await observeForGate({
      cluster: 'jobs',
      instanceId: 'i-0123456789abcdef0',
      ecs: adapter as never,
      dryRun: false,
      sinceMs: T0,
      deadline: Deadline.after(10_000),
      now: () => T0,
    });
    expect(answer).to.include({ status: 'unknown', apiFailure: true });
  });

  it("knows the SDK's throttling names, and the skew of a request signed with a wrong clock", () => {
    for (const name of [
      'ThrottlingException',
      'EC2ThrottledException',
      'RequestLimitExceeded',
      'PriorRequestNotComplete',
      'TooManyRequestsException',
    ]) {
      expect(isTransientError(awsError(name)), name).to.equal(true);
    }
    expect(
      isTransientError(
        awsError('InvalidSignatureException', { message: 'Signature expired: 20240501T115000Z' }),
      ),
    ).to.equal(true);
    expect(
      isTransientError(awsError('SomeError', { $metadata: { clockSkewCorrected: true } })),
    ).to.equal(true);
  });

  it('finds a transient failure wrapped in `cause`, a few levels deep, and in an UpstreamError', () => {
    const wrapped = new Error('request failed', {
      cause: new Error('inner', { cause: dnsFailure() }),
    });
    expect(isTransientError(wrapped)).to.equal(true);
    expect(
      isTransientError(new UpstreamError('ListContainerInstances', { cause: wrapped })),
    ).to.equal(true);
  });

  it('calls a refusal that comes back every time permanent', () => {
    for (const name of [
      'AccessDeniedException',
      'ClusterNotFoundException',
      'InvalidParameterException',
      'ClientException',
      // a quota, not throttling, for Auto Scaling and ECS — though the SDK retries it
      'LimitExceededException',
    ]) {
      expect(isTransientError(awsError(name)), name).to.equal(false);
    }
    expect(isTransientError(awsError('InvalidSignatureException'))).to.equal(false);
    expect(isTransientError(new Error('x', { cause: awsError('AccessDeniedException') }))).to.equal(
      false,
    );
    expect(isTransientError('ENOTFOUND')).to.equal(false);
  });

  it('stops looking after a few levels of `cause` (a cycle never loops)', () => {
    const a: Error & { cause?: unknown } = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isTransientError(a)).to.equal(false);
  });
});
