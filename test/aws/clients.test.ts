import { SSMClient } from '@aws-sdk/client-ssm';
import { expect } from 'chai';
import {
  ATTEMPT_TIMEOUTS,
  clientConfig,
  createAwsClients,
  destroyAwsClients,
  MAX_ATTEMPTS,
} from '../../lib/aws/clients.js';

describe('aws/clients', () => {
  let savedRegion: string | undefined;
  beforeEach(() => {
    savedRegion = process.env.AWS_REGION;
  });
  afterEach(() => {
    if (savedRegion === undefined) delete process.env.AWS_REGION;
    else process.env.AWS_REGION = savedRegion;
  });

  it('uses adaptive retries with a bounded number of attempts, each attempt bounded in time', () => {
    const config = clientConfig('eu-west-1');
    expect(config).to.deep.equal({
      region: 'eu-west-1',
      retryMode: 'adaptive',
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: ATTEMPT_TIMEOUTS,
    });
    expect(MAX_ATTEMPTS).to.be.within(2, 10);
    // 0 is the SDK's "no limit"; a timeout that only logs is no limit either.
    expect(ATTEMPT_TIMEOUTS.throwOnRequestTimeout).to.equal(true);
    for (const ms of [
      ATTEMPT_TIMEOUTS.connectionTimeout,
      ATTEMPT_TIMEOUTS.requestTimeout,
      ATTEMPT_TIMEOUTS.socketTimeout,
    ]) {
      expect(ms).to.be.within(1000, 10_000);
    }
  });

  it('takes the region from AWS_REGION when none is given', () => {
    process.env.AWS_REGION = 'ap-southeast-2';
    expect(clientConfig().region).to.equal('ap-southeast-2');
  });

  it('leaves the region to the SDK when neither is set', () => {
    delete process.env.AWS_REGION;
    expect(clientConfig()).not.to.have.property('region');
  });

  it('builds the five clients with the same region and retry policy, SSM on first use', async () => {
    const clients = createAwsClients('eu-central-1');
    try {
      expect(Object.keys(clients).sort()).to.deep.equal([
        'autoScaling',
        'ec2',
        'sns',
        'sqs',
        'ssm',
      ]);
      expect(clients.ssm).to.be.a('function');
      const ssm = await (clients.ssm as () => Promise<SSMClient>)();
      expect(ssm).to.be.instanceOf(SSMClient);
      // Built once: every use shares the client and its rate limiter.
      expect(await (clients.ssm as () => Promise<SSMClient>)()).to.equal(ssm);
      const all = [clients.autoScaling, clients.ec2, clients.sns, clients.sqs, ssm] as const;
      for (const { config } of all) {
        expect(await config.region()).to.equal('eu-central-1');
        expect(await config.maxAttempts()).to.equal(MAX_ATTEMPTS);
        const strategy = (await config.retryStrategy()) as { mode?: string };
        expect(strategy.mode).to.equal('adaptive');
      }
    } finally {
      await destroyAwsClients(clients);
    }
  });
});
