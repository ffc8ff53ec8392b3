/**
 * Real HTTP workers for the simulated instances, on loopback only: one server per instance,
 * answering `GET <path>` with BUSY or IDLE as its work schedule says at the *virtual* now
 * (so busy/idle follows compressed time), resetting the connection once the instance has
 * stopped answering, and closed when the instance is terminated (connection refused).
 *
 * Binding: each instance's server listens on its own address (127.0.x.y) and all share one
 * port — exactly how themis reaches instances (`http://<private ip>:<metricsPort>`). Linux
 * routes all of 127.0.0.0/8 to the loopback interface; macOS configures only 127.0.0.1, so
 * binding 127.0.x.y fails there with EADDRNOTAVAIL. Then every worker gets its own port on
 * 127.0.0.1 instead, and `prober()` routes each probe of 127.0.x.y to its worker's port
 * (still a real HTTP request through the real probe engine).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Prober } from '../lib/ports.js';
import type { Fleet, SimInstance } from './fleet.js';
import type { Journal } from './journal.js';

export interface LoopbackWorkers {
  /** 'shared-port': each worker on its instance's address, one port. 'own-port': fallback. */
  readonly mode: 'shared-port' | 'own-port';
  /** The metricsPort to configure (shared-port mode). */
  readonly port: number;
  /** Requests answered so far. */
  readonly requests: () => number;
  /** Wrap the HTTP prober: waits for workers still starting, routes in own-port mode. */
  prober(inner: Prober): Prober;
  close(): Promise<void>;
}

export interface LoopbackWorkerOptions {
  /** The probe path (default /work_status). */
  path?: string;
  /** Force the fallback (tests of it). */
  forceOwnPort?: boolean;
}

interface Running {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  ready: Promise<void>;
  closed: boolean;
}

export async function startLoopbackWorkers(
  fleet: Fleet,
  journal: Journal,
  options: LoopbackWorkerOptions = {},
): Promise<LoopbackWorkers> {
  const path = options.path ?? '/work_status';
  const running = new Map<string, Running>();
  let requests = 0;
  let mode: LoopbackWorkers['mode'] = options.forceOwnPort ? 'own-port' : 'shared-port';
  let sharedPort = 0;

  const start = (inst: SimInstance, port: number, host: string): Running => {
    const sockets = new Set<Socket>();
    const server = createServer((req, res) => {
      requests++;
      const answer = fleet.answer(inst.id);
      if (answer === undefined) {
        // The instance stopped answering: drop the connection without a word.
        req.socket.destroy();
        return;
      }
      if ((req.url ?? '') !== path) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(answer);
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    const worker: Running = { server, port, sockets, ready: Promise.resolve(), closed: false };
    worker.ready = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        worker.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
    // Awaited where it matters (probes, close); never an unhandled rejection meanwhile.
    worker.ready.catch(() => undefined);
    return worker;
  };

  const stop = async (w: Running) => {
    if (w.closed) return;
    w.closed = true;
    await w.ready.catch(() => undefined);
    for (const s of w.sockets) s.destroy();
    await new Promise<void>((resolve) => w.server.close(() => resolve()));
  };

  const add = (inst: SimInstance) => {
    if (running.has(inst.id)) return;
    const w =
      mode === 'shared-port' ? start(inst, sharedPort, inst.address) : start(inst, 0, '127.0.0.1');
    running.set(inst.id, w);
  };

  // The first worker decides the mode and the shared port.
  const first = fleet.instances().find((i) => i.lifecycleState !== 'Terminated');
  if (first && mode === 'shared-port') {
    const w = start(first, 0, first.address);
    try {
      await w.ready;
      sharedPort = w.port;
      running.set(first.id, w);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw err;
      mode = 'own-port';
    }
  }
  for (const inst of fleet.instances()) if (inst.lifecycleState !== 'Terminated') add(inst);
  await Promise.all([...running.values()].map((w) => w.ready));

  const unsubscribe = journal.subscribe((e) => {
    if (!e.instanceId) return;
    if (e.kind === 'launch') {
      const inst = fleet.instance(e.instanceId);
      if (inst) add(inst);
    } else if (e.kind === 'terminated') {
      const w = running.get(e.instanceId);
      if (w) void stop(w);
    }
  });

  return {
    mode,
    port: sharedPort,
    requests: () => requests,
    prober(inner) {
      return {
        async probe(address, settings) {
          const inst = fleet.instanceAt(address);
          const w = inst ? running.get(inst.id) : undefined;
          if (w) await w.ready;
          if (mode === 'own-port' && w) {
            return inner.probe('127.0.0.1', { ...settings, metricsPort: w.port });
          }
          return inner.probe(address, settings);
        },
      };
    },
    async close() {
      unsubscribe();
      await Promise.all([...running.values()].map(stop));
    },
  };
}
