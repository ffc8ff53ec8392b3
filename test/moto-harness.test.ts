import { expect } from 'chai';
import { createLoopbackFleet, startMoto, type Moto } from './helpers/moto.js';

describe('moto harness', function () {
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
});
