/**
 * The gate through the real SDK adapters (lib/aws) with every client mocked by
 * aws-sdk-client-mock: what the gate actually asks AWS for. Probes go to a real loopback
 * worker.
 */
import {
  AutoScalingClient,
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient, SNSServiceException } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CancelCommandCommand,
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../lib/aws/clients.js';
import { createGatePorts } from '../../lib/gate/aws-ports.js';
import { outcomeId } from '../../lib/gate/notices.js';
import { createGateHandler, type SqsBatchResponse } from '../../lib/gate/handler.js';
import { gateStep, type GateDeps } from '../../lib/gate/step.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { autoScalingError } from '../helpers/auto-scaling.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  fakeClock,
  firstRecheck,
  gateConfig,
  GROUP,
  HOOK,
  INSTANCE,
  QUEUE_URL,
  sqsEvent,
  terminateEvent,
  TOKEN,
  TOPIC_ARN,
} from './fakes.js';

describe('gate over the SDK adapters', () => {
  let worker: Worker;
  let clients: AwsClients;
  let asg: AwsClientStub<AutoScalingClient>;
  let ec2: AwsClientStub<EC2Client>;
  let sns: AwsClientStub<SNSClient>;
  let sqs: AwsClientStub<SQSClient>;
  let ssm: AwsClientStub<SSMClient>;
  let clock: ReturnType<typeof fakeClock>;

  function deps(env: Record<string, string> = {}): GateDeps {
    const config = gateConfig({
      THEMIS_TOPIC_ARN: TOPIC_ARN,
      THEMIS_METRICS_PORT: String(worker.port),
      ...env,
    });
    return {
      config,
      ...createGatePorts(config, clients),
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
      clock,
      random: () => 0,
    };
  }

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
    clock = fakeClock();
    clients = createAwsClients('us-east-1');
    asg = mockClient(clients.autoScaling);
    ec2 = mockClient(clients.ec2);
    sns = mockClient(clients.sns);
    sqs = mockClient(clients.sqs);
    // Built on first use (createAwsClients): mock the class, not an instance.
    ssm = mockClient(SSMClient);
    asg.on(DescribeLifecycleHooksCommand).resolves({
      LifecycleHooks: [
        {
          LifecycleHookName: HOOK,
          AutoScalingGroupName: GROUP,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 40,
          GlobalTimeout: 4000,
          DefaultResult: 'CONTINUE',
        },
      ],
    });
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: GROUP,
          MinSize: 0,
          MaxSize: 2,
          DesiredCapacity: 1,
          DefaultCooldown: 300,
          AvailabilityZones: ['us-east-1a'],
          HealthCheckType: 'EC2',
          CreatedTime: new Date(0),
          Tags: [{ Key: 'themis:busy-url', Value: '/busy' }],
        },
      ],
    });
    asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});
    asg.on(CompleteLifecycleActionCommand).resolves({});
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: INSTANCE, PrivateIpAddress: worker.address, State: { Name: 'running' } },
          ],
        },
      ],
    });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    sns.on(PublishCommand).resolves({ MessageId: 'n-1' });
  });

  afterEach(async () => {
    for (const stub of [asg, ec2, sns, sqs, ssm]) stub.restore();
    await destroyAwsClients(clients);
    await worker.close();
  });

  it('heartbeats with the token, then sends the recheck with the whole state and the right DelaySeconds', async () => {
    await gateStep(terminateEvent(), deps());

    const [heartbeat] = asg.commandCalls(RecordLifecycleActionHeartbeatCommand);
    expect(heartbeat!.args[0].input).to.deep.equal({
      AutoScalingGroupName: GROUP,
      LifecycleHookName: HOOK,
      LifecycleActionToken: TOKEN,
    });
    expect(worker.requests).to.deep.equal(['/busy']);
    const [send] = sqs.commandCalls(SendMessageCommand);
    const input = send!.args[0].input;
    expect(input.QueueUrl).to.equal(QUEUE_URL);
    // THEMIS_RECHECK_SECONDS' default, below half of the hook's 40 s HeartbeatTimeout, less
    // the queue's one-second delivery allowance.
    expect(input.DelaySeconds).to.equal(9);
    expect(JSON.parse(input.MessageBody!)).to.deep.equal(
      firstRecheck({ heartbeatTimeoutSeconds: 40, globalTimeoutSeconds: 4000 }),
    );
    expect(heartbeat!.calledBefore(send!)).to.equal(true);
  });

  it('puts a direct first step that met an Auto Scaling outage on the recheck queue, so SQS governs its retries', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).rejects(
      new AutoScalingServiceException({
        name: 'InternalFailure',
        message: 'We encountered an internal error',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    const event = terminateEvent();
    const result = await createGateHandler(deps())(event);

    expect(result, 'no error: not left to Lambda’s two retries').to.equal(undefined);
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).to.have.length(0);
    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent).to.deep.equal([
      { QueueUrl: QUEUE_URL, MessageBody: JSON.stringify(event), DelaySeconds: 10 },
    ]);
  });

  it('lets Lambda retry a direct first step when SendMessage fails as well', async () => {
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .rejects(autoScalingError('Throttling', 'Rate exceeded'));
    sqs.on(SendMessageCommand).rejects(new Error('connect ECONNREFUSED'));
    let thrown: unknown;
    await createGateHandler(deps())(terminateEvent()).catch((err: unknown) => (thrown = err));
    expect(thrown).to.have.property('name', 'UpstreamError');
  });

  it('sends no recheck when the heartbeat is refused', async () => {
    asg
      .on(RecordLifecycleActionHeartbeatCommand)
      .rejects(autoScalingError('Throttling', 'Rate exceeded'));
    const err = await gateStep(terminateEvent(), deps()).catch((e: unknown) => e);
    expect(err).to.have.property('name', 'UpstreamError');
    expect(sqs.commandCalls(SendMessageCommand)).to.have.length(0);
  });

  it('completes with CONTINUE and the token once idle, and publishes "released" with event and group attributes', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    const outcome = await gateStep(terminateEvent(), deps());
    expect(outcome.outcome).to.equal('completed');
    const [complete] = asg.commandCalls(CompleteLifecycleActionCommand);
    expect(complete!.args[0].input).to.deep.equal({
      AutoScalingGroupName: GROUP,
      LifecycleHookName: HOOK,
      LifecycleActionResult: 'CONTINUE',
      LifecycleActionToken: TOKEN,
    });
    const [publish] = sns.commandCalls(PublishCommand);
    expect(publish!.args[0].input).to.deep.include({
      TopicArn: TOPIC_ARN,
      Subject: `themis: released ${INSTANCE} in ${GROUP} after 0 s`,
      MessageAttributes: {
        event: { DataType: 'String', StringValue: 'released' },
        group: { DataType: 'String', StringValue: GROUP },
        'outcome-id': {
          DataType: 'String',
          StringValue: outcomeId({
            groupName: GROUP,
            hookName: HOOK,
            instanceId: INSTANCE,
            token: TOKEN,
          }),
        },
      },
    });
  });

  it('treats "No active Lifecycle Action found" on complete as an end elsewhere: no error, one "ended" notice', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    asg
      .on(CompleteLifecycleActionCommand)
      .rejects(
        autoScalingError(
          'ValidationError',
          `No active Lifecycle Action found with instance ID ${INSTANCE}`,
        ),
      );
    const outcome = await gateStep(terminateEvent(), deps());
    expect(outcome.outcome).to.equal('gone');
    const published = sns.commandCalls(PublishCommand);
    expect(published).to.have.length(1);
    expect(published[0]!.args[0].input.MessageAttributes!.event!.StringValue).to.equal('ended');
  });

  it('treats "No active Lifecycle Action found" on heartbeat as done: the chain stops', async () => {
    asg
      .on(RecordLifecycleActionHeartbeatCommand)
      .rejects(
        autoScalingError('ValidationError', 'No active Lifecycle Action found with token x'),
      );
    const outcome = await gateStep(terminateEvent(), deps());
    expect(outcome.outcome).to.equal('gone');
    expect(sqs.commandCalls(SendMessageCommand)).to.have.length(0);
  });

  it('completes even when SNS refuses the notice, and queues the notice for a retry within a minute', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    sns.on(PublishCommand).rejects(
      new SNSServiceException({
        name: 'AuthorizationError',
        message: 'not authorized to publish',
        $fault: 'client',
        $metadata: {},
      }),
    );
    const outcome = await gateStep(terminateEvent(), deps());
    expect(outcome.outcome).to.equal('completed');
    expect(asg.commandCalls(CompleteLifecycleActionCommand)).to.have.length(1);
    expect(sns.commandCalls(PublishCommand)).to.have.length(1);
    const [queued] = sqs.commandCalls(SendMessageCommand);
    expect(queued!.args[0].input.DelaySeconds).to.be.at.most(60);
    const body = JSON.parse(queued!.args[0].input.MessageBody!);
    expect(body).to.include({ themis: 'notice', attempts: 1 });
    expect(body.notice.attributes).to.include({ event: 'released' });
  });

  it('sends the pre-termination command and tracks it by the id carried in the recheck', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    ssm.on(DescribeDocumentCommand).resolves({ Document: { Name: 'Backup-Logs' } });
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }],
    });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-42' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success' });
    const d = deps({
      THEMIS_SSM_DOCUMENT: 'Backup-Logs',
      THEMIS_SSM_PARAMETERS: '{"bucket":"logs"}',
      THEMIS_SSM_TIMEOUT_SECONDS: '120',
    });

    await gateStep(terminateEvent(), d);
    expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input).to.deep.equal({
      DocumentName: 'Backup-Logs',
      InstanceIds: [INSTANCE],
      Parameters: { bucket: ['logs'] },
      TimeoutSeconds: 120,
    });
    expect(asg.commandCalls(CompleteLifecycleActionCommand)).to.have.length(0);

    const recheck = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageBody!;
    expect(JSON.parse(recheck).ssm.commandId).to.equal('cmd-42');
    clock.advance(20);
    const response = (await createGateHandler(d)(
      sqsEvent([{ id: 'r1', body: recheck }]),
    )) as SqsBatchResponse;
    expect(response.batchItemFailures).to.deep.equal([]);
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]!.args[0].input).to.deep.equal({
      CommandId: 'cmd-42',
      InstanceId: INSTANCE,
    });
    expect(asg.commandCalls(CompleteLifecycleActionCommand)[0]!.args[0].input).to.include({
      LifecycleActionResult: 'CONTINUE',
    });
  });

  // Issue 8, item 2: on main, a recheck carrying a command id failed with a ConfigError on
  // every delivery once THEMIS_SSM_DOCUMENT was removed (createGatePorts built no SSM port).
  it('follows a command sent before THEMIS_SSM_DOCUMENT was removed to its end', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    ssm.on(DescribeDocumentCommand).resolves({ Document: { Name: 'Backup-Logs' } });
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }],
    });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-42' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    await gateStep(terminateEvent(), deps({ THEMIS_SSM_DOCUMENT: 'Backup-Logs' }));
    const recheck = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageBody!;

    // Redeployed without the document: the command in flight is still followed.
    const redeployed = deps();
    const handler = createGateHandler(redeployed);
    clock.advance(10);
    const waiting = (await handler(sqsEvent([{ id: 'r1', body: recheck }]))) as SqsBatchResponse;
    expect(waiting.batchItemFailures).to.deep.equal([]);
    expect(asg.commandCalls(CompleteLifecycleActionCommand)).to.have.length(0);
    const next = sqs.commandCalls(SendMessageCommand)[1]!.args[0].input.MessageBody!;
    expect(JSON.parse(next).ssm).to.include({ commandId: 'cmd-42', documentName: 'Backup-Logs' });

    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success' });
    clock.advance(10);
    const done = (await handler(sqsEvent([{ id: 'r2', body: next }]))) as SqsBatchResponse;
    expect(done.batchItemFailures).to.deep.equal([]);
    expect(ssm.commandCalls(GetCommandInvocationCommand)).to.have.length(2);
    expect(asg.commandCalls(CompleteLifecycleActionCommand)[0]!.args[0].input).to.include({
      LifecycleActionResult: 'CONTINUE',
    });
    expect(sns.commandCalls(PublishCommand).at(-1)!.args[0].input.Subject).to.contain('released');
  });

  it('cancels a command still running after THEMIS_SSM_TIMEOUT_SECONDS, and says so', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    ssm.on(DescribeDocumentCommand).resolves({ Document: { Name: 'Backup-Logs' } });
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: INSTANCE, PingStatus: 'Online' }],
    });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-42' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    ssm.on(CancelCommandCommand).resolves({});
    const d = deps({ THEMIS_SSM_DOCUMENT: 'Backup-Logs', THEMIS_SSM_TIMEOUT_SECONDS: '60' });
    await gateStep(terminateEvent(), d);
    const recheck = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageBody!;
    clock.advance(61);
    const outcome = await gateStep(recheck, d);
    expect(outcome).to.include({ decision: 'ssm-failed' });
    expect(ssm.commandCalls(CancelCommandCommand)[0]!.args[0].input).to.deep.equal({
      CommandId: 'cmd-42',
      InstanceIds: [INSTANCE],
    });
    const cancelled = ssm.commandCalls(CancelCommandCommand)[0]!;
    const completed = asg.commandCalls(CompleteLifecycleActionCommand)[0]!;
    expect(cancelled.calledBefore(completed)).to.equal(true);
    expect(sns.commandCalls(PublishCommand).at(-1)!.args[0].input.Message).to.contain(
      'themis cancelled command cmd-42',
    );
  });

  it('applies THEMIS_ON_SSM_FAILURE when DescribeDocument says the document does not exist', async () => {
    worker.set({ kind: 'answer', body: 'IDLE' });
    ssm
      .on(DescribeDocumentCommand)
      .rejects(Object.assign(new Error('Document does not exist'), { name: 'InvalidDocument' }));
    const outcome = await gateStep(
      terminateEvent(),
      deps({ THEMIS_SSM_DOCUMENT: 'Backup-Logs', THEMIS_ON_SSM_FAILURE: 'ABANDON' }),
    );
    expect(outcome).to.include({ decision: 'ssm-failed', result: 'ABANDON' });
    expect(ssm.commandCalls(SendCommandCommand)).to.have.length(0);
    expect(asg.commandCalls(CompleteLifecycleActionCommand)[0]!.args[0].input).to.include({
      LifecycleActionResult: 'ABANDON',
    });
    expect(
      sns.commandCalls(PublishCommand)[0]!.args[0].input.MessageAttributes!.event,
    ).to.deep.equal({ DataType: 'String', StringValue: 'ssm-failed' });
  });
});
