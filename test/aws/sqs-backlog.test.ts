import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { lazySqsClient, SqsBacklog } from '../../lib/aws/sqs-backlog.js';
import { UpstreamError } from '../../lib/errors.js';
import { startMoto, type Moto } from '../helpers/moto.js';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/work';

describe('aws/sqs-backlog', () => {
  describe('with a mocked client', () => {
    let sqs: AwsClientStub<SQSClient>;
    beforeEach(() => {
      sqs = mockClient(SQSClient);
    });
    afterEach(() => sqs.restore());

    it('asks for ApproximateNumberOfMessages only and returns it as a number', async () => {
      sqs
        .on(GetQueueAttributesCommand)
        .resolves({ Attributes: { ApproximateNumberOfMessages: '42' } });
      const backlog = new SqsBacklog(lazySqsClient('us-east-1'));
      expect(await backlog.visibleMessages(QUEUE)).to.equal(42);
      expect(sqs.commandCalls(GetQueueAttributesCommand).map((c) => c.args[0].input)).to.deep.equal(
        [{ QueueUrl: QUEUE, AttributeNames: ['ApproximateNumberOfMessages'] }],
      );
    });

    it('refuses an answer that is not a count', async () => {
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
      const err = await new SqsBacklog(lazySqsClient('us-east-1'))
        .visibleMessages(QUEUE)
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as Error).message).to.equal(
        `GetQueueAttributes ${QUEUE} failed: Error: ApproximateNumberOfMessages is undefined, not a count`,
      );
    });

    it('wraps an SQS failure with the queue in the message', async () => {
      sqs.on(GetQueueAttributesCommand).rejects(
        Object.assign(new Error('The specified queue does not exist.'), {
          name: 'QueueDoesNotExist',
        }),
      );
      const err = await new SqsBacklog(lazySqsClient('us-east-1'))
        .visibleMessages(QUEUE)
        .catch((e: unknown) => e);
      expect((err as Error).message).to.equal(
        `GetQueueAttributes ${QUEUE} failed: QueueDoesNotExist: The specified queue does not exist.`,
      );
    });

    it('builds one client, on first use, that never sends to the host a queue URL names', async () => {
      sqs
        .on(GetQueueAttributesCommand)
        .resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });
      const client = lazySqsClient('eu-west-1');
      const first = await client();
      expect(await client()).to.equal(first);
      expect(first.config.useQueueUrlAsEndpoint).to.equal(false);
      expect(await first.config.region()).to.equal('eu-west-1');
    });
  });

  describe('over the wire (moto_server) @slow', () => {
    let moto: Moto;
    let sqs: SQSClient;
    before(async () => {
      moto = await startMoto();
      sqs = new SQSClient(moto.clientConfig);
    });
    after(async () => {
      sqs?.destroy();
      await moto?.stop();
    });

    it('counts the visible messages of a queue', async () => {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'work' }));
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: ['a', 'b', 'c'].map((Id) => ({ Id, MessageBody: Id })),
        }),
      );
      const backlog = new SqsBacklog(
        async () => new SQSClient({ ...moto.clientConfig, useQueueUrlAsEndpoint: false }),
      );
      expect(await backlog.visibleMessages(QueueUrl!)).to.equal(3);
    });

    it('fails with the queue named when it does not exist', async () => {
      const backlog = new SqsBacklog(
        async () => new SQSClient({ ...moto.clientConfig, useQueueUrlAsEndpoint: false }),
      );
      const missing = `${moto.endpoint}/123456789012/missing`;
      const err = await backlog.visibleMessages(missing).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as Error).message).to.match(
        new RegExp(`^GetQueueAttributes ${missing} failed: `),
      );
    });
  });
});
