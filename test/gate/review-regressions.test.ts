/**
 * Defects found by an adversarial review of the hardened gate (each test failed on the code
 * before its fix): stale hook timing across invocations, a deadline margin smaller than one
 * failed step, and a command left running when the gate gives up at the deadline.
 */
import { expect } from 'chai';
import {
  DEFAULT_GATE_TIMING,
  DEFAULT_HEARTBEAT_MARGIN_SECONDS,
  DELIVERY_LAG_SECONDS,
} from '../../lib/gate/budget.js';
import { decide, deadlineMs } from '../../lib/gate/decide.js';
import { createGateHandler } from '../../lib/gate/handler.js';
import { initialState } from '../../lib/gate/state.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { gateConfig, GROUP, HOOK, makeWorld, terminateEvent, type World } from './fakes.js';

const OTHER = 'i-0fed5678abc123456';
const context = () => ({ getRemainingTimeInMillis: () => 80_000 });
const T0 = Date.parse('2024-05-01T12:00:00Z');

describe('gate review regressions', () => {
  let worker: Worker;
  let world: World;

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'BUSY' });
    world = makeWorld({
      heartbeatTimeoutSeconds: 1800,
      env: { THEMIS_METRICS_PORT: String(worker.port) },
    });
    world.groups.addresses.set(OTHER, worker.address);
  });
  afterEach(() => worker.close());

  it('reads a hook changed a moment ago with its new HeartbeatTimeout on the next invocation', async () => {
    world.lifecycle.addHook(GROUP, HOOK, 7200);
    const handler = createGateHandler(world.deps);
    await handler(terminateEvent(), context());
    // An operator shortens the hook; a scale-in starts 30 s later on the same warm container.
    world.lifecycle.addHook(GROUP, HOOK, 1200);
    world.clock.advance(30);
    await handler(
      terminateEvent({ instanceId: OTHER, time: new Date(world.clock()).toISOString() }),
      context(),
    );
    const recheck = JSON.parse(world.rechecks.scheduled.at(-1)!.body) as {
      hook: { heartbeatTimeoutSeconds: number };
    };
    expect(recheck.hook.heartbeatTimeoutSeconds).to.equal(1200);
  });

  it('stops waiting early enough that the step at the deadline can fail once and still come in time', () => {
    const config = gateConfig();
    const global = 172_800;
    const state = initialState(T0, { heartbeatTimeoutSeconds: 1800, globalTimeoutSeconds: global });
    const oneFailedStep =
      DEFAULT_GATE_TIMING.visibilityTimeoutSeconds +
      DELIVERY_LAG_SECONDS +
      DEFAULT_GATE_TIMING.functionTimeoutSeconds;
    const marginSeconds = (T0 + global * 1000 - deadlineMs(state, config)) / 1000;
    expect(marginSeconds).to.be.at.least(oneFailedStep);
    expect(marginSeconds).to.equal(DEFAULT_HEARTBEAT_MARGIN_SECONDS);
  });

  it('cancels a command still running when the gate gives up at the deadline', () => {
    const config = gateConfig({
      THEMIS_SSM_DOCUMENT: 'AWS-RunShellScript',
      THEMIS_MAX_WAIT_SECONDS: '600',
    });
    const state = {
      ...initialState(T0, { heartbeatTimeoutSeconds: 1800, globalTimeoutSeconds: 172_800 }),
      dryRun: false,
      ssm: {
        commandId: 'cmd-1',
        sentAtMs: T0 + 590_000,
        documentName: 'AWS-RunShellScript',
        timeoutSeconds: 600,
      },
    };
    const at = (command: 'pending' | 'failed') =>
      decide({
        state,
        command: { state: command },
        config,
        dryRun: false,
        nowMs: T0 + 600_000,
        random: 0,
        phase: 0,
      });
    const pending = at('pending');
    expect(pending).to.include({ kind: 'deadline', cancelCommand: true });
    // A command that already ended is not cancelled.
    expect(at('failed')).to.not.have.property('cancelCommand');
  });
});
