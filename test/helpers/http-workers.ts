/**
 * Real HTTP servers on loopback that play instance workers in tests. Each listens on
 * 127.0.0.1 (or a given 127.x address) port 0 unless told otherwise, and is closed in teardown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour =
  | { kind: 'answer'; body: string; status?: number; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'drip'; body: string; intervalMs: number }
  | { kind: 'handler'; handle: (req: IncomingMessage, res: ServerResponse) => void }
  /**
   * Answer with raw bytes on the socket once the request has arrived (what an HTTP server
   * cannot produce: an upgrade, noise, a broken chunk…). `every` repeats a write until the
   * socket or the worker closes.
   */
  | { kind: 'raw'; respond: (socket: Socket, every: (ms: number, fn: () => void) => void) => void };

export interface Worker {
  address: string;
  port: number;
  server: Server;
  /** Change what the worker answers from now on. */
  set(behaviour: Behaviour): void;
  requests: string[];
  close(): Promise<void>;
}

export async function startWorker(
  behaviour: Behaviour,
  host = '127.0.0.1',
  port = 0,
): Promise<Worker> {
  let current = behaviour;
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const b = current;
    switch (b.kind) {
      case 'answer':
        res.writeHead(b.status ?? 200, { 'content-type': 'text/plain', ...b.headers });
        res.end(b.body);
        return;
      case 'hang':
        return; // accept and never answer
      case 'reset':
        req.socket.destroy();
        return;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const t = setInterval(() => {
          if (i >= b.body.length) {
            clearInterval(t);
            timers.delete(t);
            res.end();
            return;
          }
          res.write(b.body[i++]);
        }, b.intervalMs);
        timers.add(t);
        return;
      }
      case 'handler':
        b.handle(req, res);
        return;
      case 'raw': {
        const socket = req.socket;
        b.respond(socket, (ms, fn) => {
          const t = setInterval(() => {
            if (socket.destroyed || !socket.writable) {
              clearInterval(t);
              timers.delete(t);
              return;
            }
            fn();
          }, ms);
          timers.add(t);
          socket.once('close', () => {
            clearInterval(t);
            timers.delete(t);
          });
        });
        return;
      }
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const info = server.address() as AddressInfo;
  return {
    address: host,
    port: info.port,
    server,
    requests,
    set(b) {
      current = b;
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
