/**
 * Probers for the simulated fleet.
 *
 * - createScheduleProber: the property tests' worker — plain data. It answers what the
 *   instance's work schedule says at the virtual now, as the body a worker would send
 *   ('BUSY'/'IDLE'), classified by the real classifier (lib/probe.ts). A silent instance
 *   times out, an address with no instance is refused. The loopback guard applies as in the
 *   HTTP prober.
 * - recordProbes: wraps any prober (the HTTP one too) and remembers each instance's latest
 *   answer, so the checker can ask "what did the last probe say before this protection was
 *   removed?".
 */
import { AddressNotAllowedError } from '../lib/errors.js';
import type { ProbeResult, Prober } from '../lib/ports.js';
import { classifyBody, isLoopbackAddress } from '../lib/probe.js';
import type { Fleet } from './fleet.js';
import type { ProbeRecord } from './ports.js';

export function createScheduleProber(fleet: Fleet): Prober {
  return {
    async probe(address, settings): Promise<ProbeResult> {
      if (!isLoopbackAddress(address)) throw new AddressNotAllowedError(address);
      const inst = fleet.instanceAt(address);
      if (!inst || inst.lifecycleState === 'Terminated') {
        return { status: 'unknown', reason: 'connection refused', latencyMs: 0 };
      }
      const body = fleet.answer(inst.id);
      if (body === undefined) {
        return {
          status: 'unknown',
          reason: `timeout after ${settings.timeoutMs} ms`,
          latencyMs: 0,
        };
      }
      return { ...classifyBody(body, settings.busyValue, settings.idleValue), latencyMs: 0 };
    },
  };
}

export interface ProbeLog {
  fleet: Fleet;
  lastProbe: Map<string, ProbeRecord>;
  now(): number;
}

export function recordProbes(inner: Prober, world: ProbeLog): Prober {
  return {
    async probe(address, settings) {
      const result = await inner.probe(address, settings);
      const inst = world.fleet.instanceAt(address);
      if (inst) world.lastProbe.set(inst.id, { at: world.now(), status: result.status });
      return result;
    },
  };
}
