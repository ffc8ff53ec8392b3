/**
 * The SNS outage proxy (test/helpers/sns-outage-proxy.ts) in front of moto_server: Publish
 * fails as SNS fails during an outage — HTTP 500, InternalError, retryable for the SDK —
 * everything else goes through, and Publish works again when the outage is over.
 */
import { CreateTopicCommand, ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import { expect } from 'chai';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';
import { receiveAndDelete } from '../gate/sqs-wire.js';
import { createOutcomeTopic, type Queue } from '../helpers/gate-wire.js';
import { motoClients, startMoto, type Moto, type MotoClients } from '../helpers/moto.js';
import { startSnsOutageProxy, type SnsOutageProxy } from '../helpers/sns-outage-proxy.js';

const NOTICE = {
  subject: 'themis: released i-1 from g',
  message: 'i-1 was idle',
  attributes: { event: 'released', group: 'g' },
};

describe('SNS outage proxy over moto @slow', () => {
  let moto: Moto;
  let clients: MotoClients;
  let proxy: SnsOutageProxy;
  let topicArn: string;
  let inbox: Queue;
  let sns: SNSClient;

  before(async () => {
    moto = await startMoto();
    clients = motoClients(moto);
    ({ topicArn, inbox } = await createOutcomeTopic(clients, 'outage'));
  });
  after(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    proxy = await startSnsOutageProxy(moto.endpoint);
  });
  afterEach(async () => {
    sns?.destroy();
    await proxy.close();
  });

  /** An SNS client through the proxy; one attempt unless told, so each 500 is seen. */
  function snsThroughProxy(maxAttempts = 1): SNSClient {
    sns = new SNSClient({ ...moto.clientConfig, endpoint: proxy.url, maxAttempts });
    return sns;
  }

  it('answers Publish with 500 InternalError during the outage, and delivers it after', async () => {
    const notifications = new SnsNotifications(snsThroughProxy(), topicArn);
    proxy.start();

    const err = await notifications.publish(NOTICE).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    // The SDK reads the query-protocol code InternalError as SNS's modelled error.
    expect(awsErrorName(err)).to.equal('InternalErrorException');
    const cause = (err as UpstreamError).cause as {
      $fault?: string;
      $metadata?: { httpStatusCode?: number };
    };
    expect(cause.$metadata?.httpStatusCode).to.equal(500);
    expect(cause.$fault).to.equal('server');
    expect(proxy.failedPublishes()).to.equal(1);
    // Nothing reached the topic.
    expect(await receiveAndDelete(clients.sqs, inbox.url, 1, 1)).to.deep.equal([]);

    proxy.end();
    await notifications.publish(NOTICE);

    const [delivered] = await receiveAndDelete(clients.sqs, inbox.url, 1);
    expect(JSON.parse(delivered!.Body!)).to.include({ Message: 'i-1 was idle' });
    expect(proxy.forwardedPublishes()).to.equal(1);
  });

  it('forwards every other call during the outage', async () => {
    const client = snsThroughProxy();
    proxy.start();

    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'outage-other' }));
    const { Topics } = await client.send(new ListTopicsCommand({}));

    expect(Topics!.map((t) => t.TopicArn)).to.include(TopicArn);
    expect(proxy.failedPublishes()).to.equal(0);
  });

  it('ends a timed outage by itself', async () => {
    const notifications = new SnsNotifications(snsThroughProxy(), topicArn);
    proxy.start(300);
    expect(proxy.active()).to.equal(true);
    expect(await notifications.publish(NOTICE).catch((e: unknown) => awsErrorName(e))).to.equal(
      'InternalErrorException',
    );

    await new Promise((r) => setTimeout(r, 350));

    expect(proxy.active()).to.equal(false);
    await notifications.publish(NOTICE);
    expect(await receiveAndDelete(clients.sqs, inbox.url, 1)).to.have.length(1);
  });

  it('is retried by the SDK like a real SNS 500: a short outage is ridden out', async () => {
    const notifications = new SnsNotifications(snsThroughProxy(6), topicArn);
    // Shorter than the SDK's first backoffs add up to: one or two attempts fail, then one works.
    proxy.start(150);

    await notifications.publish(NOTICE);

    expect(proxy.failedPublishes()).to.be.at.least(1);
    expect(proxy.forwardedPublishes()).to.equal(1);
    expect(await receiveAndDelete(clients.sqs, inbox.url, 1)).to.have.length(1);
  });
});
