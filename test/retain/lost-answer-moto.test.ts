/**
 * The lost terminate answer over the wire: a loopback proxy in front of moto_server forwards
 * TerminateInstanceInAutoScalingGroup, lets moto carry it out, and then resets the connection
 * instead of passing the answer on (every attempt, the SDK's retry included). protect's
 * retained step gets a network error from the real adapter, reads the group back through
 * moto's real DescribeAutoScalingGroups, finds the instance gone, and tells the termination.
 * Broken variant caught: the code before the read-back (report 'failed', no notice).
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { expect } from 'chai';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { AutoScalingAdapter } from '../../lib/aws/auto-scaling.js';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { SnsNotifications } from '../../lib/aws/sns.js';
import { mergeSettings } from '../../lib/config.js';
import { createRecordingLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { handleRetained } from '../../lib/protect/retained.js';
import { startWorker } from '../helpers/http-workers.js';
import { createLoopbackFleet, motoClients, startMoto, type Moto } from '../helpers/moto.js';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Forwards everything to moto (loopback); a terminate's answer is replaced by a reset. */
async function startLosingProxy(target: string) {
  const upstream = new URL(target);
  let lost = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const action = new URLSearchParams(body.toString('utf8')).get('Action');
      const out = request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          if (action === 'TerminateInstanceInAutoScalingGroup') {
            // moto has carried it out; its answer is read in full and never passed on.
            answer.resume();
            answer.on('end', () => {
              lost++;
              req.socket.destroy();
            });
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => req.socket.destroy());
      out.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    lost: () => lost,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('retain: a lost terminate answer over the wire (moto)', function () {
  this.timeout(60_000);
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
  });
  after(() => moto.stop());

  it('reads the group back from Auto Scaling and tells the termination moto carried out', async () => {
    const clients = motoClients(moto);
    const proxy = await startLosingProxy(moto.endpoint);
    const asg = new AutoScalingClient({
      ...moto.clientConfig,
      endpoint: proxy.url,
      maxAttempts: 2,
    });
    const adapter = new AutoScalingAdapter(asg);
    const fleet = await createLoopbackFleet(moto, { groupName: 'retain-lost', size: 2 });
    const victim = fleet.instanceIds[0]!;
    const worker = await startWorker(
      { kind: 'answer', body: 'IDLE' },
      fleet.addresses.get(victim)!,
    );
    try {
      const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: 'outcomes' }));
      const log = createRecordingLog();
      // moto has no Retained state: the step is handed the listing protect would read.
      const [report] = await handleRetained(
        {
          asgName: fleet.groupName,
          region: moto.region,
          ...mergeSettings({ metricsPort: worker.port, timeoutMs: 1_000 }),
        },
        [
          {
            instanceId: victim,
            lifecycleState: 'Terminating:Retained',
            protectedFromScaleIn: false,
          },
        ],
        {
          addresses: new Ec2Addresses(clients.ec2),
          prober: createHttpProber({ loopbackOnly: true }),
          retained: adapter,
          groups: adapter,
          notifications: new SnsNotifications(clients.sns, TopicArn!),
          log,
          clock: Date.now,
        },
      );
      expect(proxy.lost()).to.be.at.least(1);
      expect(report).to.include({ instanceId: victim, action: 'terminated', notice: 'published' });
      expect(report!.reason).to.match(/no longer lists it/);
      const [group] = await adapter.describeGroups([fleet.groupName]);
      expect(group!.instances.map((i) => i.instanceId)).to.not.include(victim);
    } finally {
      await worker.close();
      await proxy.close();
      asg.destroy();
      for (const c of Object.values(clients)) c.destroy();
    }
  });
});
