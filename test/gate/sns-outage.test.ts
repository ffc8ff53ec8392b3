/**
 * No outcome is lost to an SNS outage, over the wire: the gate with its real SDK clients
 * and adapters against moto_server, the SNS client behind the outage proxy
 * (test/helpers/sns-outage-proxy.ts: Publish answers 500 InternalError while the outage
 * lasts, everything else is forwarded). The lifecycle action is completed during the
 * outage, every Publish attempt of that step fails (the SDK's own retries included), and
 * the outcome notice still reaches the topic's subscriber once SNS is back — through the
 * gate's delayed retry on the recheck queue, delivered here as Lambda would deliver it.
 *
 * test/gate/moto.test.ts proves the same path quickly (delays recorded, not waited for, and
 * two SDK attempts). This one keeps every production number: the SNS client's own retry
 * policy rides into the outage and gives up, and the retry waits on the queue for its real
 * DelaySeconds — so it also shows the first retry coming within 60 s, and exactly one
 * notice, one completion.
 *
 * moto lacks RecordLifecycleActionHeartbeat and CompleteLifecycleAction: as in
 * test/gate/moto.test.ts, a middleware answers those two in AWS's place and records them.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { expect } from 'chai';
import { clientConfig } from '../../lib/aws/clients.js';
import { createGatePorts } from '../../lib/gate/aws-ports.js';
import { parseGateEnv } from '../../lib/gate/config.js';
import { createGateHandler, type SqsBatchResponse } from '../../lib/gate/handler.js';
import type { GateDeps } from '../../lib/gate/step.js';
import { createRecordingLog } from '../../lib/log.js';
import { outcomeId } from '../../lib/gate/notices.js';
import { createHttpProber, isLoopbackAddress } from '../../lib/probe.js';
import { lifecycleEvent } from '../helpers/events.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import {
  createGateWireStack,
  interceptLifecycleActions,
  snsNotices,
  type Intercepted,
  type Queue,
} from '../helpers/gate-wire.js';
import {
  motoClients,
  startMoto,
  type Moto,
  type MotoClients,
  type MotoFleet,
} from '../helpers/moto.js';
import { startSnsOutageProxy, type SnsOutageProxy } from '../helpers/sns-outage-proxy.js';
import { asSqsEvent, receiveAndDelete } from './sqs-wire.js';

const HOOK = 'themis-outage';
const TOKEN = 'a1b2c3d4-0000-4000-8000-00000000aa7e';

describe('gate through an SNS outage, over the wire (moto) @slow', function () {
  // The notice's first retry comes within 60 s: wait for it, and a little longer.
  this.timeout(120_000);

  let moto: Moto;
  let clients: MotoClients;
  let fleet: MotoFleet;
  let instanceId: string;
  let worker: Worker;
  let proxy: SnsOutageProxy;
  let sns: SNSClient;
  let rechecks: Queue;
  let inbox: Queue;
  let topicArn: string;
  let lifecycleCalls: Intercepted[];

  before(async () => {
    moto = await startMoto();
    clients = motoClients(moto);
    lifecycleCalls = interceptLifecycleActions(clients);
    ({ fleet, instanceId, rechecks, inbox, topicArn } = await createGateWireStack(moto, clients, {
      name: 'outage-wire',
      hook: HOOK,
      heartbeatTimeoutSeconds: 600,
    }));
    proxy = await startSnsOutageProxy(moto.endpoint);
    // The production client policy (adaptive retries, six attempts, per-attempt bounds),
    // aimed at the proxy: during the outage every one of its attempts gets the 500.
    sns = new SNSClient({
      ...clientConfig(moto.region),
      endpoint: proxy.url,
      credentials: moto.clientConfig.credentials,
    });
  });

  after(async () => {
    sns?.destroy();
    await proxy?.close();
    for (const client of Object.values(clients ?? {})) client.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    const address = fleet.addresses.get(instanceId)!;
    expect(isLoopbackAddress(address)).to.equal(true);
    worker = await startWorker({ kind: 'answer', body: 'IDLE' }, address);
    lifecycleCalls.length = 0;
  });
  afterEach(async () => {
    proxy.end();
    await worker.close();
  });

  function deps(): GateDeps {
    const config = parseGateEnv({
      THEMIS_RECHECK_QUEUE_URL: rechecks.url,
      THEMIS_TOPIC_ARN: topicArn,
      THEMIS_METRICS_PORT: String(worker.port),
      THEMIS_RECHECK_SECONDS: '5',
    });
    return {
      config,
      ...createGatePorts(config, { ...clients, sns }),
      prober: createHttpProber({ loopbackOnly: true }),
      log: createRecordingLog(),
      clock: Date.now,
      random: () => 0,
    };
  }

  it('delivers the outcome of an action completed during the outage once SNS is back', async () => {
    const handler = createGateHandler(deps());
    proxy.start();

    // The instance is idle: the gate completes the action and tries to say so.
    await handler(
      lifecycleEvent({
        group: fleet.groupName,
        hook: HOOK,
        instanceId,
        token: TOKEN,
        region: moto.region,
        id: 'outage-1',
      }),
    );

    const completions = () =>
      lifecycleCalls.filter((c) => c.command === 'CompleteLifecycleAction').map((c) => c.input);
    expect(completions()).to.have.length(1);
    expect(completions()[0]).to.include({ LifecycleActionResult: 'CONTINUE' });
    expect(proxy.failedPublishes(), 'Publish attempts refused by the outage').to.be.at.least(1);
    expect(proxy.forwardedPublishes()).to.equal(0);
    expect(await receiveAndDelete(clients.sqs, inbox.url, 1, 1)).to.deep.equal([]);

    const failedAtMs = Date.now();

    // SNS is back; the gate's retry of the notice comes through the recheck queue, delayed
    // by SQS itself (moto honours DelaySeconds): within a minute of the failed Publish.
    proxy.end();
    const retries = await receiveAndDelete(clients.sqs, rechecks.url, 1, 33);
    expect(retries, 'the notice retry on the recheck queue').to.have.length(1);
    // 60 s promised, plus one long poll of 2 s.
    expect(Date.now() - failedAtMs).to.be.at.most(62_000);
    const response = (await handler(asSqsEvent(retries))) as SqsBatchResponse;
    expect(response).to.deep.equal({ batchItemFailures: [] });

    const notices = snsNotices(await receiveAndDelete(clients.sqs, inbox.url, 1));
    expect(notices).to.have.length(1);
    expect(notices[0]!.attributes).to.include({
      event: 'released',
      group: fleet.groupName,
      'outcome-id': outcomeId({
        groupName: fleet.groupName,
        hookName: HOOK,
        instanceId,
        token: TOKEN,
      }),
    });
    expect(notices[0]!.subject).to.contain(instanceId);
    // Completed once, before the outage ended; the retry only told the operators.
    expect(completions()).to.have.length(1);
    // Nothing left behind: no further notice, no further recheck.
    expect(await receiveAndDelete(clients.sqs, inbox.url, 1, 1)).to.deep.equal([]);
    expect(await receiveAndDelete(clients.sqs, rechecks.url, 1, 1)).to.deep.equal([]);
  });
});
