/**
 * A loopback proxy in front of moto_server that answers repeated Describe calls from a cache,
 * so that the protect function's warm scans are measured against an AWS that answers at once
 * instead of against moto's own CPU on a loaded machine (a DescribeAutoScalingGroups of 1,000
 * instances took 0.15–3 s from moto here). The answers are moto's own bytes, so the SDK parses
 * exactly what it would parse from moto.
 *
 * Any call that is not a Describe (SetInstanceProtection, …) is forwarded and empties the
 * cache of its own API (the `Version` in the form body: Auto Scaling's calls do not change
 * what EC2 answers), and so does `clear(version)`: an answer is never served after
 * something could have changed it. Query protocol only (Auto Scaling, EC2).
 */
import { createServer, request, type IncomingMessage } from 'node:http';

export interface CachingProxy {
  endpoint: string;
  /** Calls answered from the cache and forwarded to moto. */
  stats: { cached: number; forwarded: number };
  /** Forget the answers of one API (its Version, e.g. AUTO_SCALING_API), or all of them. */
  clear(version?: string): void;
  stop(): Promise<void>;
}

/** The Version of the Auto Scaling API (EC2's is 2016-11-15). */
export const AUTO_SCALING_API = '2011-01-01';

function versionOf(form: string): string | undefined {
  return /(?:^|&| )Version=([0-9-]+)/.exec(form)?.[1];
}

function body(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export async function startCachingProxy(target: string): Promise<CachingProxy> {
  const upstream = new URL(target);
  if (upstream.hostname !== '127.0.0.1') throw new Error(`not a loopback endpoint: ${target}`);
  const cache = new Map<string, Answer>();
  const stats = { cached: 0, forwarded: 0 };
  const clear = (version?: string) => {
    for (const key of [...cache.keys()]) {
      if (version === undefined || versionOf(key) === version) cache.delete(key);
    }
  };

  const forward = (req: IncomingMessage, payload: Buffer): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (res) => {
          body(res).then(
            (b) =>
              resolve({
                status: res.statusCode ?? 500,
                headers: {
                  'content-type': String(res.headers['content-type'] ?? 'text/xml'),
                },
                body: b,
              }),
            reject,
          );
        },
      );
      out.once('error', reject);
      out.end(payload);
    });

  const server = createServer((req, res) => {
    void (async () => {
      const payload = await body(req);
      const action = /(?:^|&)Action=([A-Za-z]+)/.exec(payload.toString('utf8'))?.[1] ?? '';
      const key = `${req.url} ${payload.toString('utf8')}`;
      const describe = action.startsWith('Describe');
      let answer = describe ? cache.get(key) : undefined;
      if (answer) stats.cached++;
      else {
        stats.forwarded++;
        answer = await forward(req, payload);
        if (!describe) clear(versionOf(payload.toString('utf8')));
        else if (answer.status === 200) cache.set(key, answer);
      }
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-length': String(answer.body.length),
      });
      res.end(answer.body);
    })().catch((err: unknown) => {
      res.writeHead(502).end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    clear,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
