import { expect } from 'chai';
import { clientConfig, createAwsClients, MAX_ATTEMPTS } from '../../lib/aws/clients.js';

describe('aws/clients', () => {
  let savedRegion: string | undefined;
  beforeEach(() => {
    savedRegion = process.env.AWS_REGION;
  });
  afterEach(() => {
    if (savedRegion === undefined) delete process.env.AWS_REGION;
    else process.env.AWS_REGION = savedRegion;
  });

  it('uses adaptive retries with a bounded number of attempts', () => {
    const config = clientConfig('eu-west-1');
    expect(config).to.deep.equal({
      region: 'eu-west-1',
      retryMode: 'adaptive',
      maxAttempts: MAX_ATTEMPTS,
    });
    expect(MAX_ATTEMPTS).to.be.within(2, 10);
  });

  it('takes the region from AWS_REGION when none is given', () => {
    process.env.AWS_REGION = 'ap-southeast-2';
    expect(clientConfig().region).to.equal('ap-southeast-2');
  });

  it('leaves the region to the SDK when neither is set', () => {
    delete process.env.AWS_REGION;
    expect(clientConfig()).not.to.have.property('region');
  });

  it('builds the five clients with the same region and retry policy', async () => {
    const clients = createAwsClients('eu-central-1');
    try {
      const all = Object.values(clients);
      expect(Object.keys(clients).sort()).to.deep.equal([
        'autoScaling',
        'ec2',
        'sns',
        'sqs',
        'ssm',
      ]);
      for (const client of all) {
        expect(await client.config.region()).to.equal('eu-central-1');
        expect(await client.config.maxAttempts()).to.equal(MAX_ATTEMPTS);
        const strategy = await client.config.retryStrategy();
        expect(strategy.mode).to.equal('adaptive');
      }
    } finally {
      for (const client of Object.values(clients)) client.destroy();
    }
  });
});
