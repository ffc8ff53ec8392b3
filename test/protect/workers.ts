/**
 * Several loopback workers that share one port, each bound to its own 127.x address — the
 * way a fleet looks to themis (one metricsPort, one address per instance).
 */
import { startWorker, type Behaviour, type Worker } from '../helpers/http-workers.js';
import { isLoopbackAddress } from '../../lib/probe.js';

export interface WorkerSet {
  port: number;
  /** Address → worker. */
  byAddress: Map<string, Worker>;
  /** Every address a request reached, in arrival order (one entry per request). */
  probedAddresses(): string[];
  close(): Promise<void>;
}

/**
 * Start one worker per entry on the same port. The first picks a free port; if another
 * process holds that port on one of the other addresses, start again on a new port.
 */
export async function startWorkersOnOnePort(
  plan: Array<[address: string, behaviour: Behaviour]>,
  attempts = 5,
): Promise<WorkerSet> {
  for (const [address] of plan) {
    if (!isLoopbackAddress(address)) throw new Error(`refusing to bind ${address}: not loopback`);
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const started: Worker[] = [];
    try {
      const [first, ...rest] = plan;
      if (!first) throw new Error('no workers asked for');
      const w0 = await startWorker(first[1], first[0], 0);
      started.push(w0);
      for (const [address, behaviour] of rest)
        started.push(await startWorker(behaviour, address, w0.port));
      const byAddress = new Map(started.map((w) => [w.address, w]));
      return {
        port: w0.port,
        byAddress,
        probedAddresses: () => started.flatMap((w) => w.requests.map(() => w.address)),
        close: async () => {
          await Promise.all(started.map((w) => w.close()));
        },
      };
    } catch (err) {
      lastError = err;
      await Promise.all(started.map((w) => w.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw lastError;
}
