import { PublishCommand, SNSClient, SNSServiceException } from '@aws-sdk/client-sns';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { MAX_SUBJECT_CHARS, SnsNotifications, toSubject } from '../../lib/aws/sns.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:themis-notices';

describe('aws/sns', () => {
  let sns: AwsClientStub<SNSClient>;
  let adapter: SnsNotifications;

  beforeEach(() => {
    sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    adapter = new SnsNotifications(new SNSClient({ region: 'us-east-1' }), TOPIC);
  });
  afterEach(() => {
    sns.restore();
  });

  it('publishes subject, message and String attributes to the topic', async () => {
    await adapter.publish({
      subject: 'themis: released i-1 from Electric-Ziggurat',
      message: 'i-1 was idle; lifecycle action completed with CONTINUE',
      attributes: { event: 'released', group: 'Electric-Ziggurat' },
    });

    const [call] = sns.commandCalls(PublishCommand);
    expect(call!.args[0].input).to.deep.equal({
      TopicArn: TOPIC,
      Subject: 'themis: released i-1 from Electric-Ziggurat',
      Message: 'i-1 was idle; lifecycle action completed with CONTINUE',
      MessageAttributes: {
        event: { DataType: 'String', StringValue: 'released' },
        group: { DataType: 'String', StringValue: 'Electric-Ziggurat' },
      },
    });
  });

  it('replaces line breaks and control characters in the subject', async () => {
    await adapter.publish({
      subject: 'released\r\ni-1\tfrom\u0000g\u2028now\u007f',
      message: 'm',
      attributes: {},
    });

    const subject = sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject!;
    expect(subject).to.equal('released i-1 from g now');
    // eslint-disable-next-line no-control-regex -- asserting none survive
    expect(subject).not.to.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  });

  it('cuts a long subject below 100 characters and marks the cut', async () => {
    await adapter.publish({ subject: `${'x'.repeat(150)}`, message: 'm', attributes: {} });

    const subject = sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject!;
    expect(Array.from(subject)).to.have.length(MAX_SUBJECT_CHARS);
    expect(subject.endsWith('…')).to.equal(true);
    expect(MAX_SUBJECT_CHARS).to.be.below(100);
  });

  it('counts characters, not UTF-16 units, and never splits one', () => {
    const subject = toSubject('🔥'.repeat(120));
    expect(Array.from(subject)).to.have.length(MAX_SUBJECT_CHARS);
    expect(subject).to.equal(`${'🔥'.repeat(MAX_SUBJECT_CHARS - 1)}…`);
  });

  it('keeps a subject that already fits as it is', () => {
    const fits = 'y'.repeat(MAX_SUBJECT_CHARS);
    expect(toSubject(fits)).to.equal(fits);
  });

  it('leaves out a subject with nothing printable and attributes with empty values', async () => {
    await adapter.publish({ subject: '\n\t', message: 'm', attributes: { event: 'x', group: '' } });

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).not.to.have.property('Subject');
    expect(input.MessageAttributes).to.deep.equal({
      event: { DataType: 'String', StringValue: 'x' },
    });
  });

  it('wraps a failure in UpstreamError with the cause', async () => {
    const cause = new SNSServiceException({
      name: 'AuthorizationErrorException',
      message: 'not allowed',
      $fault: 'client',
      $metadata: {},
    });
    sns.on(PublishCommand).rejects(cause);

    const err = await adapter
      .publish({ subject: 's', message: 'm', attributes: {} })
      .catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as UpstreamError).cause).to.equal(cause);
    expect(awsErrorName(err)).to.equal('AuthorizationErrorException');
  });
});
