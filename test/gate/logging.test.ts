import { expect } from 'chai';
import { createGateHandler } from '../../lib/gate/handler.js';
import { startWorker, type Worker } from '../helpers/http-workers.js';
import { GROUP, HOOK, INSTANCE, makeWorld, terminateEvent, type World } from './fakes.js';

const context = { awsRequestId: 'req-5d1e', getRemainingTimeInMillis: () => 30_000 };

describe('gate logging', () => {
  let worker: Worker;
  let world: World;

  beforeEach(async () => {
    worker = await startWorker({ kind: 'answer', body: 'IDLE' });
    world = makeWorld({ env: { THEMIS_METRICS_PORT: String(worker.port) } });
    world.groups.addresses.set(INSTANCE, worker.address);
  });
  afterEach(() => worker.close());

  it('puts the Lambda request id on every line of the invocation', async () => {
    await createGateHandler(world.deps)(terminateEvent(), context);
    expect(world.log.lines.length).to.be.greaterThan(0);
    for (const line of world.log.lines) {
      expect(line.fields, line.message).to.include({ requestId: 'req-5d1e' });
    }
  });

  it('puts the instance, group and hook on every line of a step, through a child logger', async () => {
    await createGateHandler(world.deps)(terminateEvent(), context);
    const decision = world.log.lines.find((l) => l.message === 'gate decision');
    // The call site passes only the decision's own fields; the step's logger adds the rest.
    expect(decision?.fields).to.include({
      instanceId: INSTANCE,
      group: GROUP,
      hook: HOOK,
      decision: 'release',
      requestId: 'req-5d1e',
    });
  });

  it('does not carry one invocation’s request id into the next', async () => {
    const handler = createGateHandler(world.deps);
    await handler(terminateEvent(), context);
    world.log.lines.length = 0;
    await handler(terminateEvent(), { ...context, awsRequestId: 'req-next' });
    const ids = new Set(world.log.lines.map((l) => l.fields.requestId));
    expect([...ids]).to.deep.equal(['req-next']);
  });
});
