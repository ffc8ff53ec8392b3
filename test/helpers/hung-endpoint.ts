/**
 * An AWS endpoint that hangs: a TCP server on loopback that accepts every connection, reads
 * every request and never answers a byte. Point AWS_ENDPOINT_URL (or a client's `endpoint`)
 * at it to stand in for an endpoint in trouble or a NAT gateway that drops the answers.
 */
import { createServer, type Socket } from 'node:net';

export interface HungEndpoint {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** HTTP requests that arrived (one per SDK attempt), counted by their request line. */
  requests(): number;
  close(): Promise<void>;
}

export async function startHungEndpoint(): Promise<HungEndpoint> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      requests += chunk.toString('latin1').match(/^[A-Z]+ \S+ HTTP\/1\.1\r$/gm)?.length ?? 0;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
