/**
 * Backlog per instance over the wire: the protect handler with the real regional ports
 * (lib/protect/aws-ports.ts, AWS_ENDPOINT_URL → moto_server), a moto group whose tag
 * themis:queue-url names a moto SQS queue, and loopback workers answering the probes.
 */
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { silentLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { createRegionalPorts } from '../../lib/protect/aws-ports.js';
import { createProtectHandler } from '../../lib/protect/handler.js';
import { createLoopbackFleet, startMoto, type Moto } from '../helpers/moto.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

describe('protect backlog over the wire (moto_server) @slow', function () {
  let moto: Moto;
  let sqs: SQSClient;
  let workers: WorkerSet;
  let savedEndpoint: string | undefined;
  let queueUrl: string;

  before(async () => {
    moto = await startMoto();
    savedEndpoint = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    sqs = new SQSClient(moto.clientConfig);
    ({ QueueUrl: queueUrl } = (await sqs.send(new CreateQueueCommand({ QueueName: 'jobs' }))) as {
      QueueUrl: string;
    });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: ['1', '2', '3', '4', '5', '6'].map((Id) => ({ Id, MessageBody: Id })),
      }),
    );
    const fleet = await createLoopbackFleet(moto, {
      groupName: 'workers',
      size: 3,
      tags: { 'themis:queue-url': queueUrl },
    });
    const missing = await createLoopbackFleet(moto, {
      groupName: 'orphans',
      size: 1,
      tags: { 'themis:queue-url': `${moto.endpoint}/123456789012/missing` },
    });
    workers = await startWorkersOnOnePort(
      [...fleet.addresses.values(), ...missing.addresses.values()].map((a, i) => [
        a,
        { kind: 'answer', body: i === 0 ? 'BUSY' : 'IDLE' },
      ]),
    );
  });
  after(async () => {
    await workers?.close();
    sqs?.destroy();
    await moto?.stop();
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = savedEndpoint;
  });

  it('reads the queue a group names and reports the backlog per InService instance', async () => {
    const handler = createProtectHandler({
      config: {
        region: moto.region,
        settings: { metricsPort: workers.port, timeoutMs: 1000 },
        targets: [
          { asgName: 'workers', region: moto.region, settings: {} },
          { asgName: 'orphans', region: moto.region, settings: {} },
        ],
        tagDiscovery: false,
        scansPerInvocation: 1,
        probeConcurrency: 4,
      },
      portsFor: createRegionalPorts,
      prober: createHttpProber({ loopbackOnly: true }),
      log: silentLog,
    });
    const { scans } = await handler({});
    const reports = Object.fromEntries(scans[0]!.groups.map((g) => [g.asgName, g]));
    expect(reports.workers!.outcome).to.equal('ok');
    expect(reports.workers!.backlog).to.deep.equal({
      queueUrl,
      visibleMessages: 6,
      inService: 3,
      backlogPerInstance: 2,
    });
    // A queue that cannot be read: counted on the report, the scan itself done.
    expect(reports.orphans!.outcome).to.equal('ok');
    expect(reports.orphans!.backlog).to.include({
      visibleMessages: null,
      backlogPerInstance: null,
    });
    expect(reports.orphans!.backlog!.error).to.be.a('string').and.not.equal('');
  });
});
