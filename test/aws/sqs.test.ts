import { SendMessageCommand, SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-rechecks';

describe('aws/sqs', () => {
  let sqs: AwsClientStub<SQSClient>;
  let adapter: SqsRechecks;

  beforeEach(() => {
    sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    adapter = new SqsRechecks(new SQSClient({ region: 'us-east-1' }), QUEUE);
  });
  afterEach(() => {
    sqs.restore();
  });

  it('sends the body to the queue with the delay', async () => {
    await adapter.schedule('{"instanceId":"i-1","attempt":2}', 60);

    const [call] = sqs.commandCalls(SendMessageCommand);
    expect(call!.args[0].input).to.deep.equal({
      QueueUrl: QUEUE,
      MessageBody: '{"instanceId":"i-1","attempt":2}',
      DelaySeconds: 60,
    });
  });

  const cases: [string, number, number][] = [
    ['keeps 0', 0, 0],
    ['keeps 900, the SQS maximum', 900, 900],
    ['clamps longer delays to 900', 3600, 900],
    ['clamps negative delays to 0', -5, 0],
    ['rounds fractions up to whole seconds', 12.2, 13],
    ['treats NaN as no delay', Number.NaN, 0],
    ['treats infinity as the maximum', Number.POSITIVE_INFINITY, 900],
  ];
  for (const [behaviour, asked, sent] of cases) {
    it(`${behaviour} (${asked} → ${sent})`, async () => {
      await adapter.schedule('b', asked);
      expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.DelaySeconds).to.equal(sent);
    });
  }

  it('wraps a failure in UpstreamError with the cause', async () => {
    const cause = new SQSServiceException({
      name: 'QueueDoesNotExist',
      message: 'The specified queue does not exist.',
      $fault: 'client',
      $metadata: {},
    });
    sqs.on(SendMessageCommand).rejects(cause);

    const err = await adapter.schedule('b', 1).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as UpstreamError).cause).to.equal(cause);
    expect(awsErrorName(err)).to.equal('QueueDoesNotExist');
  });
});
