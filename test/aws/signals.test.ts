/**
 * Every adapter method runs under the caller's abort signal: the signal reaches the SDK's
 * `send`, a call that hangs settles as soon as the signal aborts, an aborted signal makes no
 * call, and a paginated method asks for no further page once it aborted. One table for all
 * adapters, checked against the adapters' own method lists so that a method added later
 * without a row fails here rather than going unchecked.
 *
 * Broken variant tried: `sendUnder` replaced by a plain `client.send(command)` in one
 * adapter method — its "reaches send" and "settles when aborted" rows fail (the latter by
 * staying pending past the 1 s bound checked below).
 */
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import * as ssmSdk from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { SqsRechecks } from '../../lib/aws/sqs.js';
import { SsmCommands } from '../../lib/aws/ssm.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';
import type { CallOptions } from '../../lib/ports.js';
import { DeadlineExceededError } from '../../lib/time.js';

const REGION = { region: 'us-east-1' };
const ACTION = { groupName: 'g', hookName: 'themis', instanceId: 'i-1', token: 't-1' };

/** Any SDK command class (aws-sdk-client-mock matches on the class). */
type CommandClass = new (input: never) => unknown;
type Stub = ReturnType<typeof mockClient>;

interface Row {
  adapter: string;
  method: string;
  command: CommandClass;
  /** A successful answer, so the call returns normally. */
  answer: unknown;
  call: (opts: CallOptions) => Promise<unknown>;
  /** For paginated methods: an answer with a NextToken. */
  firstPage?: unknown;
}

const autoScaling = new AutoScalingAdapter(new AutoScalingClient(REGION));
const ec2 = new Ec2Addresses(new EC2Client(REGION));
const sns = new SnsNotifications(new SNSClient(REGION), 'arn:aws:sns:us-east-1:1:t');
const sqs = new SqsRechecks(new SQSClient(REGION), 'https://sqs.us-east-1.amazonaws.com/1/q');
// Built lazily, as createAwsClients does for the gate.
const ssm = new SsmCommands(async () => new ssmSdk.SSMClient(REGION));

const ROWS: Row[] = [
  {
    adapter: 'AutoScalingAdapter',
    method: 'describeGroups',
    command: DescribeAutoScalingGroupsCommand,
    answer: { AutoScalingGroups: [] },
    firstPage: { AutoScalingGroups: [], NextToken: 'page-2' },
    call: (opts) => autoScaling.describeGroups(['g'], opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'findGroupsByTag',
    command: DescribeAutoScalingGroupsCommand,
    answer: { AutoScalingGroups: [] },
    firstPage: { AutoScalingGroups: [], NextToken: 'page-2' },
    call: (opts) => autoScaling.findGroupsByTag('themis:enabled', 'true', opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'setInstanceProtection',
    command: SetInstanceProtectionCommand,
    answer: {},
    call: (opts) => autoScaling.setInstanceProtection('g', ['i-1'], true, opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'terminateRetained',
    command: TerminateInstanceInAutoScalingGroupCommand,
    answer: {},
    call: (opts) => autoScaling.terminateRetained('i-1', opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'recordHeartbeat',
    command: RecordLifecycleActionHeartbeatCommand,
    answer: {},
    call: (opts) => autoScaling.recordHeartbeat(ACTION, opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'complete',
    command: CompleteLifecycleActionCommand,
    answer: {},
    call: (opts) => autoScaling.complete(ACTION, 'CONTINUE', opts),
  },
  {
    adapter: 'AutoScalingAdapter',
    method: 'describeHook',
    command: DescribeLifecycleHooksCommand,
    answer: { LifecycleHooks: [] },
    call: (opts) => autoScaling.describeHook('g', 'themis', opts),
  },
  {
    adapter: 'Ec2Addresses',
    method: 'privateAddresses',
    command: DescribeInstancesCommand,
    answer: { Reservations: [] },
    firstPage: { Reservations: [], NextToken: 'page-2' },
    call: (opts) => ec2.privateAddresses(['i-1'], opts),
  },
  {
    adapter: 'SnsNotifications',
    method: 'publish',
    command: PublishCommand,
    answer: { MessageId: 'm-1' },
    call: (opts) => sns.publish({ subject: 's', message: 'm', attributes: { event: 'x' } }, opts),
  },
  {
    adapter: 'SqsRechecks',
    method: 'schedule',
    command: SendMessageCommand,
    answer: { MessageId: 'm-1' },
    call: (opts) => sqs.schedule('{}', 30, opts),
  },
  {
    adapter: 'SsmCommands',
    method: 'documentExists',
    command: ssmSdk.DescribeDocumentCommand,
    answer: { Document: { Name: 'd' } },
    call: (opts) => ssm.documentExists('d', opts),
  },
  {
    adapter: 'SsmCommands',
    method: 'isManaged',
    command: ssmSdk.DescribeInstanceInformationCommand,
    answer: { InstanceInformationList: [] },
    call: (opts) => ssm.isManaged('i-1', opts),
  },
  {
    adapter: 'SsmCommands',
    method: 'send',
    command: ssmSdk.SendCommandCommand,
    answer: { Command: { CommandId: 'c-1' } },
    call: (opts) => ssm.send('i-1', 'd', {}, 60, opts),
  },
  {
    adapter: 'SsmCommands',
    method: 'status',
    command: ssmSdk.GetCommandInvocationCommand,
    answer: { Status: 'Success' },
    call: (opts) => ssm.status('c-1', 'i-1', opts),
  },
  {
    adapter: 'SsmCommands',
    method: 'cancel',
    command: ssmSdk.CancelCommandCommand,
    answer: {},
    call: (opts) => ssm.cancel('c-1', 'i-1', opts),
  },
];

/** Methods on the prototypes that are not port calls. */
const NOT_CALLS = new Set(['constructor', 'listGroups', 'sdk']);

const ADAPTERS = {
  AutoScalingAdapter,
  Ec2Addresses,
  SnsNotifications,
  SqsRechecks,
  SsmCommands,
};

/** Settles with the outcome of `promise`, or with 'still pending' after `ms`. */
async function within(ms: number, promise: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise((resolve) => {
    timer = setTimeout(() => resolve('still pending'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('aws adapters under an abort signal', () => {
  const stubs: Stub[] = [];
  const stub = (client: new (config: object) => unknown): Stub => {
    const s = mockClient(client as never);
    stubs.push(s);
    return s;
  };
  let clients: Record<string, Stub>;

  beforeEach(() => {
    clients = {
      AutoScalingAdapter: stub(AutoScalingClient),
      Ec2Addresses: stub(EC2Client),
      SnsNotifications: stub(SNSClient),
      SqsRechecks: stub(SQSClient),
      SsmCommands: stub(ssmSdk.SSMClient),
    };
  });
  afterEach(() => {
    for (const s of stubs.splice(0)) s.restore();
  });

  it('has a row for every call of every adapter', () => {
    const listed = new Set(ROWS.map((r) => `${r.adapter}.${r.method}`));
    for (const [name, adapter] of Object.entries(ADAPTERS)) {
      for (const method of Object.getOwnPropertyNames(adapter.prototype)) {
        if (NOT_CALLS.has(method)) continue;
        expect(listed.has(`${name}.${method}`), `${name}.${method} has no row`).to.equal(true);
      }
    }
  });

  for (const row of ROWS) {
    const name = `${row.adapter}.${row.method}`;
    describe(name, () => {
      it('hands the caller’s signal to the SDK’s send', async () => {
        clients[row.adapter]!.on(row.command as never).resolves(row.answer as never);
        const controller = new AbortController();

        await row.call({ signal: controller.signal });

        const calls = clients[row.adapter]!.commandCalls(row.command as never);
        expect(calls.length).to.be.at.least(1);
        for (const call of calls) {
          const options = (call.args as unknown[])[1] as { abortSignal?: AbortSignal };
          expect(options.abortSignal).to.equal(controller.signal);
        }
      });

      it('settles as soon as the signal aborts, while the call hangs', async () => {
        clients[row.adapter]!.on(row.command as never).callsFake(() => new Promise(() => {}));
        const controller = new AbortController();
        const reason = new DeadlineExceededError(name, 20);
        setTimeout(() => controller.abort(reason), 20);

        const outcome = await within(1000, row.call({ signal: controller.signal }));

        expect(outcome).to.be.instanceOf(UpstreamError);
        expect((outcome as UpstreamError).cause).to.equal(reason);
        expect(awsErrorName(outcome)).to.equal('DeadlineExceededError');
      });

      it('makes no call once the signal has aborted', async () => {
        clients[row.adapter]!.on(row.command as never).resolves(row.answer as never);
        const controller = new AbortController();
        controller.abort(new DeadlineExceededError(name, 0));

        const outcome = await within(1000, row.call({ signal: controller.signal }));

        expect(outcome).to.be.instanceOf(UpstreamError);
        expect(clients[row.adapter]!.commandCalls(row.command as never)).to.have.length(0);
      });

      if (row.firstPage) {
        it('asks for no further page once the signal aborted', async () => {
          const controller = new AbortController();
          clients[row.adapter]!.on(row.command as never).callsFake(async () => {
            controller.abort(new DeadlineExceededError(name, 0));
            return row.firstPage;
          });

          const outcome = await within(1000, row.call({ signal: controller.signal }));

          expect(outcome).to.be.instanceOf(UpstreamError);
          expect(clients[row.adapter]!.commandCalls(row.command as never)).to.have.length(1);
        });

        it('refuses a NextToken handed back unchanged instead of paging for ever', async () => {
          clients[row.adapter]!.on(row.command as never).resolves(row.firstPage as never);

          const outcome = await within(1000, row.call({}));

          expect(outcome).to.be.instanceOf(UpstreamError);
          expect(String((outcome as Error).message)).to.match(/same NextToken twice/);
          expect(clients[row.adapter]!.commandCalls(row.command as never)).to.have.length(2);
        });
      }

      it('still works without a signal', async () => {
        clients[row.adapter]!.on(row.command as never).resolves(row.answer as never);
        expect(await within(1000, row.call({}))).to.equal('resolved');
      });
    });
  }
});
