/**
 * Metric reads against real HTTP servers on loopback (including ones that never answer, or
 * answer too much), and the queue depth against moto_server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { SqsQueueDepth } from '../../lib/aws/queue-depth.js';
import { createMetricReader, fieldValue, MAX_METRIC_BODY_BYTES } from '../../lib/scale/metrics.js';
import { Deadline, DeadlineExceededError } from '../../lib/time.js';
import { startMoto, type Moto } from '../helpers/moto.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

const ROUTES: Record<string, Route> = {
  '/depth': (_, res) => res.end(JSON.stringify({ queue: { depth: 42 }, items: [{ n: '7' }] })),
  '/500': (_, res) => {
    res.statusCode = 500;
    res.end('{"queue":{"depth":1}}');
  },
  '/html': (_, res) => res.end('<html>'),
  '/huge': (_, res) => res.end(JSON.stringify({ pad: 'x'.repeat(MAX_METRIC_BODY_BYTES), n: 1 })),
  '/redirect': (_, res) => {
    res.statusCode = 302;
    res.setHeader('location', '/depth');
    res.end();
  },
  '/hang': () => {
    // Never answers.
  },
  '/trickle': (_, res) => {
    res.write('{"n": ');
    // …and never finishes the body.
  },
};

describe('scale/metrics', function () {
  this.timeout(60_000);
  let server: Server;
  let base: string;
  const reader = () =>
    createMetricReader({
      queues: { approximateMessages: () => Promise.reject(new Error('unused')) },
    });

  before(async () => {
    server = createServer((req, res) =>
      (ROUTES[req.url ?? ''] ?? ((_, r) => ((r.statusCode = 404), r.end())))(req, res),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const read = (path: string, field = 'queue.depth', deadline?: Deadline) =>
    reader().read({ kind: 'url', url: `${base}${path}`, field }, deadline);

  it('reads a nested numeric field of a JSON answer', async () => {
    expect(await read('/depth')).to.equal(42);
    expect(await read('/depth', 'items.0.n')).to.equal(7);
  });

  const failures: Array<[string, string, string, RegExp]> = [
    ['a non-2xx answer', '/500', 'queue.depth', /HTTP 500/],
    ['a redirect (not followed)', '/redirect', 'queue.depth', /HTTP 302/],
    ['an answer that is not JSON', '/html', 'queue.depth', /not JSON/],
    ['a missing field', '/depth', 'queue.size', /field queue.size not found/],
    ['a field that is not a number', '/depth', 'queue', /is not a number/],
    ['an answer over the size cap', '/huge', 'n', /larger than 65536 bytes/],
  ];
  for (const [what, path, field, message] of failures) {
    it(`refuses ${what}`, async () => {
      const err = await read(path, field).catch((e: unknown) => e);
      expect(String(err)).to.match(message);
    });
  }

  it('settles by its deadline when the server never answers', async () => {
    const started = Date.now();
    const err = await read('/hang', 'n', Deadline.after(200)).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(DeadlineExceededError);
    expect(Date.now() - started).to.be.below(2000);
  });

  it('settles by its deadline when the body never ends', async () => {
    const err = await read('/trickle', 'n', Deadline.after(200)).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(DeadlineExceededError);
  });

  it('reads numbers only', () => {
    expect(() => fieldValue({ n: '' }, 'n')).to.throw(/not a number/);
    expect(() => fieldValue({ n: null }, 'n')).to.throw(/not a number/);
    expect(() => fieldValue({ n: 'Infinity' }, 'n')).to.throw(/not a number/);
    expect(() => fieldValue({ n: 1 }, 'constructor')).to.throw(/not found/);
    expect(fieldValue({ n: -2.5 }, 'n')).to.equal(-2.5);
  });

  describe('queue depth (moto)', () => {
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

    it('reads ApproximateNumberOfMessages', async () => {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'jobs' }));
      for (let i = 0; i < 3; i++)
        await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `m${i}` }));
      const metrics = createMetricReader({ queues: new SqsQueueDepth(sqs) });

      expect(await metrics.read({ kind: 'sqs', queueUrl: QueueUrl! })).to.equal(3);
    });

    it('names the queue when it does not exist', async () => {
      const metrics = createMetricReader({ queues: new SqsQueueDepth(sqs) });

      const err = await metrics
        .read({ kind: 'sqs', queueUrl: `${moto.endpoint}/123456789012/nope` })
        .catch((e: unknown) => e);

      expect(String(err)).to.match(/GetQueueAttributes ApproximateNumberOfMessages .*nope failed/);
    });
  });
});
