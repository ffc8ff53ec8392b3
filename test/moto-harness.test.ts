import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateQueueCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { getTransition } from './helpers/moto-server.js';
import {
  createLoopbackFleet,
  motoClients,
  setTransition,
  startMoto,
  type Moto,
} from './helpers/moto.js';

describe('moto harness', function () {
  this.timeout(120_000);
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });

  it('creates a group whose instances all have 127.0.1.x addresses', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'harness', size: 3 });
    expect(fleet.instanceIds).to.have.length(3);
    for (const ip of fleet.addresses.values()) expect(ip).to.match(/^127\.0\.1\.\d+$/);
  });

  // Under mocha a stopped server is handed to the next startMoto() (test/setup.ts): that one
  // must find it as a new server would be. Broken variants caught: startMoto() without the
  // reset (the first holder's group is still listed), and without unsetting the transitions a
  // holder set (ecs::task still manual × 5 instead of moto's default).
  it('hands the next holder a server with none of the previous holder’s state', async () => {
    const first = await startMoto();
    const clients = motoClients(first);
    let second: Moto | undefined;
    try {
      await createLoopbackFleet(first, { groupName: 'left-behind', size: 1 });

      await clients.sqs.send(new CreateQueueCommand({ QueueName: 'left-behind' }));
      const untouched = await getTransition(first, 'ecs::task');
      await setTransition(first, 'ecs::task', { progression: 'manual', times: 5 });
      await first.stop();

      second = await startMoto();
      const next = motoClients(second);
      try {
        const groups = await next.autoScaling.send(new DescribeAutoScalingGroupsCommand({}));
        expect(groups.AutoScalingGroups ?? []).to.deep.equal([]);
        const queues = await next.sqs.send(new ListQueuesCommand({}));
        expect(queues.QueueUrls ?? []).to.deep.equal([]);
        expect(await getTransition(second, 'ecs::task')).to.deep.equal(untouched);
        const fleet = await createLoopbackFleet(second, { groupName: 'fresh', size: 1 });
        expect([...fleet.addresses.values()][0]).to.match(/^127\.0\.1\.\d+$/);
      } finally {
        for (const c of Object.values(next)) c.destroy();
      }
    } finally {
      for (const c of Object.values(clients)) c.destroy();
      await first.stop();
      await second?.stop();
    }
  });
});
