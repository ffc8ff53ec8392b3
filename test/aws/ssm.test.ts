import {
  CancelCommandCommand,
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidDocument,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
  type CommandInvocationStatus,
} from '@aws-sdk/client-ssm';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { SsmCommands, STDERR_SNIPPET_CHARS } from '../../lib/aws/ssm.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';

const meta = { $metadata: {} };

function throttled(): SSMServiceException {
  return new SSMServiceException({
    name: 'ThrottlingException',
    message: 'Rate exceeded',
    $fault: 'client',
    $metadata: {},
  });
}

describe('aws/ssm', () => {
  let ssm: AwsClientStub<SSMClient>;
  let adapter: SsmCommands;

  beforeEach(() => {
    ssm = mockClient(SSMClient);
    adapter = new SsmCommands(new SSMClient({ region: 'us-east-1' }));
  });
  afterEach(() => {
    ssm.restore();
  });

  describe('documentExists', () => {
    it('is true when SSM describes the document', async () => {
      ssm.on(DescribeDocumentCommand).resolves({ Document: { Name: 'themis-drain' } });
      expect(await adapter.documentExists('themis-drain')).to.equal(true);
      expect(ssm.commandCalls(DescribeDocumentCommand)[0]!.args[0].input).to.deep.equal({
        Name: 'themis-drain',
      });
    });

    it('is false when SSM answers InvalidDocument', async () => {
      ssm
        .on(DescribeDocumentCommand)
        .rejects(
          new InvalidDocument({ message: 'The specified document does not exist.', ...meta }),
        );
      expect(await adapter.documentExists('nope')).to.equal(false);
    });

    it('throws UpstreamError for other failures', async () => {
      const cause = throttled();
      ssm.on(DescribeDocumentCommand).rejects(cause);
      const err = await adapter.documentExists('d').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as UpstreamError).cause).to.equal(cause);
    });
  });

  describe('isManaged', () => {
    it('filters on the instance id and is true only when it pings Online', async () => {
      ssm
        .on(DescribeInstanceInformationCommand)
        .resolvesOnce({ InstanceInformationList: [{ InstanceId: 'i-1', PingStatus: 'Online' }] })
        .resolvesOnce({
          InstanceInformationList: [{ InstanceId: 'i-1', PingStatus: 'ConnectionLost' }],
        })
        .resolvesOnce({ InstanceInformationList: [] });

      expect(await adapter.isManaged('i-1')).to.equal(true);
      expect(await adapter.isManaged('i-1')).to.equal(false);
      expect(await adapter.isManaged('i-1')).to.equal(false);
      for (const call of ssm.commandCalls(DescribeInstanceInformationCommand)) {
        expect(call.args[0].input).to.deep.equal({
          Filters: [{ Key: 'InstanceIds', Values: ['i-1'] }],
        });
      }
    });

    it('is false when SSM answers InvalidInstanceId', async () => {
      ssm
        .on(DescribeInstanceInformationCommand)
        .rejects(new InvalidInstanceId({ message: 'not registered', ...meta }));
      expect(await adapter.isManaged('i-1')).to.equal(false);
    });

    it('throws UpstreamError for other failures', async () => {
      ssm.on(DescribeInstanceInformationCommand).rejects(throttled());
      const err = await adapter.isManaged('i-1').catch((e: unknown) => e);
      expect(awsErrorName(err)).to.equal('ThrottlingException');
      expect(err).to.be.instanceOf(UpstreamError);
    });
  });

  describe('send', () => {
    it('sends the document to the one instance and returns the command id', async () => {
      ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });

      const id = await adapter.send(
        'i-1',
        'themis-drain',
        { commands: ['systemctl stop worker'] },
        600,
      );

      expect(id).to.equal('c-1');
      expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input).to.deep.equal({
        DocumentName: 'themis-drain',
        InstanceIds: ['i-1'],
        Parameters: { commands: ['systemctl stop worker'] },
        TimeoutSeconds: 600,
      });
    });

    it('keeps the timeout within what SendCommand accepts', async () => {
      ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
      await adapter.send('i-1', 'd', {}, 5);
      await adapter.send('i-1', 'd', {}, 10_000_000);
      expect(
        ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.TimeoutSeconds),
      ).to.deep.equal([30, 2_592_000]);
    });

    it('throws UpstreamError when SSM rejects the command or gives no id', async () => {
      const cause = new InvalidInstanceId({ message: 'not managed', ...meta });
      ssm.on(SendCommandCommand).rejectsOnce(cause).resolvesOnce({ Command: {} });

      const rejected = await adapter.send('i-1', 'd', {}, 60).catch((e: unknown) => e);
      const empty = await adapter.send('i-1', 'd', {}, 60).catch((e: unknown) => e);

      expect(rejected).to.be.instanceOf(UpstreamError);
      expect(awsErrorName(rejected)).to.equal('InvalidInstanceId');
      expect(empty).to.be.instanceOf(UpstreamError);
      expect((empty as Error).message).to.contain('no CommandId');
    });
  });

  describe('cancel', () => {
    it('cancels the command on this one instance', async () => {
      ssm.on(CancelCommandCommand).resolves(meta);
      await adapter.cancel('c-1', 'i-0abc1234def567890');
      expect(ssm.commandCalls(CancelCommandCommand)[0]!.args[0].input).to.deep.equal({
        CommandId: 'c-1',
        InstanceIds: ['i-0abc1234def567890'],
      });
    });

    it('passes the abort signal to the SDK', async () => {
      ssm.on(CancelCommandCommand).resolves(meta);
      const controller = new AbortController();
      await adapter.cancel('c-1', 'i-1', { signal: controller.signal });
      const args = ssm.commandCalls(CancelCommandCommand)[0]!.args as unknown[];
      const options = args[1] as { abortSignal?: AbortSignal };
      expect(options.abortSignal).to.equal(controller.signal);
    });

    it('wraps a failure in UpstreamError naming the command', async () => {
      ssm.on(CancelCommandCommand).rejects(throttled());
      const err = await adapter.cancel('c-1', 'i-1').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as Error).message).to.contain('CancelCommand c-1 i-1');
      expect(awsErrorName(err)).to.equal('ThrottlingException');
    });
  });

  describe('status', () => {
    const cases: [CommandInvocationStatus, 'pending' | 'success' | 'failed'][] = [
      ['Pending', 'pending'],
      ['InProgress', 'pending'],
      ['Delayed', 'pending'],
      ['Success', 'success'],
      ['Failed', 'failed'],
      ['TimedOut', 'failed'],
      ['Cancelled', 'failed'],
      ['Cancelling', 'failed'],
    ];
    for (const [status, state] of cases) {
      it(`maps ${status} to ${state}`, async () => {
        ssm.on(GetCommandInvocationCommand).resolves({ Status: status, StatusDetails: status });
        const answer = await adapter.status('c-1', 'i-1');
        expect(answer.state).to.equal(state);
        expect(ssm.commandCalls(GetCommandInvocationCommand)[0]!.args[0].input).to.deep.equal({
          CommandId: 'c-1',
          InstanceId: 'i-1',
        });
      });
    }

    it('treats a status it does not know as failed rather than waiting on it', async () => {
      ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Exploded' as never });
      expect(await adapter.status('c-1', 'i-1')).to.deep.equal({
        state: 'failed',
        detail: 'Exploded',
      });
    });

    it('explains a failure with the status details and the start of stderr', async () => {
      const stderr = `drain: worker refused to stop\n${'e'.repeat(1000)}`;
      ssm.on(GetCommandInvocationCommand).resolves({
        Status: 'Failed',
        StatusDetails: 'Failed',
        StandardErrorContent: stderr,
      });

      const { state, detail } = await adapter.status('c-1', 'i-1');

      expect(state).to.equal('failed');
      expect(detail).to.match(/^Failed \(Failed\); stderr: drain: worker refused to stop/);
      expect(detail!.length).to.be.below(STDERR_SNIPPET_CHARS + 40);
      expect(detail!.endsWith('…')).to.equal(true);
    });

    it('says why a timed-out command failed even without stderr', async () => {
      ssm.on(GetCommandInvocationCommand).resolves({
        Status: 'TimedOut',
        StatusDetails: 'DeliveryTimedOut',
        StandardErrorContent: '',
      });
      expect(await adapter.status('c-1', 'i-1')).to.deep.equal({
        state: 'failed',
        detail: 'TimedOut (DeliveryTimedOut)',
      });
    });

    it('is pending while the invocation does not exist yet', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .rejects(new InvocationDoesNotExist({ message: 'no invocation', ...meta }));
      expect((await adapter.status('c-1', 'i-1')).state).to.equal('pending');
    });

    it('throws UpstreamError for other failures', async () => {
      const cause = throttled();
      ssm.on(GetCommandInvocationCommand).rejects(cause);
      const err = await adapter.status('c-1', 'i-1').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UpstreamError);
      expect((err as UpstreamError).cause).to.equal(cause);
    });
  });
});
