/**
 * An SNS outage in front of moto_server: a loopback HTTP proxy that answers `Publish` with
 * HTTP 500 and an `InternalError` body — the shape SNS's query protocol gives a server-side
 * failure, which the SDK treats as retryable — while an outage lasts, and forwards every
 * other request (and every Publish outside an outage) to moto unchanged. Point an SNS
 * client at `url` (its `endpoint`); the topic's deliveries to SQS subscribers happen inside
 * moto and are not affected.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isLoopbackAddress } from '../../lib/probe.js';

export interface SnsOutageProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Publish fails from now on for `ms` milliseconds (until `end()` when no time is given). */
  start(ms?: number): void;
  /** The outage is over: Publish is forwarded again. */
  end(): void;
  /** Whether Publish fails right now. */
  active(): boolean;
  /** Publish requests answered with 500 so far (one per SDK attempt). */
  failedPublishes(): number;
  /** Publish requests forwarded to moto so far. */
  forwardedPublishes(): number;
  close(): Promise<void>;
}

/** SNS's query-protocol error document (as AWS sends for a 500). */
function internalErrorBody(requestId: string): string {
  return (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">' +
    '<Error><Type>Receiver</Type><Code>InternalError</Code>' +
    '<Message>The request processing has failed because of an unknown error, exception or failure.</Message>' +
    `</Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/** The query-protocol action of a request body (`Action=Publish&…`). */
function actionOf(body: Buffer): string | undefined {
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A proxy to `target` (moto's endpoint; loopback only). Publish works until `start()`. */
export async function startSnsOutageProxy(target: string): Promise<SnsOutageProxy> {
  const upstream = new URL(target);
  // The loopback rule holds for the proxy too: it never forwards off this machine.
  if (!isLoopbackAddress(upstream.hostname)) {
    throw new Error(`the SNS outage proxy forwards to loopback only, not ${upstream.hostname}`);
  }
  let outageUntil = 0;
  let failed = 0;
  let forwarded = 0;
  let requestIds = 0;
  const sockets = new Set<Socket>();

  const active = () => Date.now() < outageUntil;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const isPublish = actionOf(body) === 'Publish';
    if (isPublish && active()) {
      failed++;
      const xml = internalErrorBody(`outage-${++requestIds}`);
      res.writeHead(500, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
      res.end(xml);
      return;
    }
    if (isPublish) forwarded++;
    const out = request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    out.end(body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${String(err)}`);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    start(ms?: number) {
      outageUntil = ms === undefined ? Number.POSITIVE_INFINITY : Date.now() + ms;
    },
    end() {
      outageUntil = 0;
    },
    active,
    failedPublishes: () => failed,
    forwardedPublishes: () => forwarded,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
