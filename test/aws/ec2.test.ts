import {
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  type DescribeInstancesCommandInput,
  type Instance,
} from '@aws-sdk/client-ec2';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { Ec2Addresses } from '../../lib/aws/ec2.js';
import { awsErrorName, UpstreamError } from '../../lib/errors.js';

function ec2Error(name: string, message: string): EC2ServiceException {
  return new EC2ServiceException({
    name,
    message,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

/**
 * A stand-in for DescribeInstances as EC2 documents it: InstanceIds naming an unknown id
 * fails the whole call with InvalidInstanceID.NotFound, an instance-id filter just matches
 * what exists; more than 200 filter values is FilterLimitExceeded; answers come in pages of
 * at most `pageSize` reservations (EC2 may return fewer than MaxResults).
 */
function fakeEc2(instances: Instance[], pageSize = 3) {
  const known = new Map(instances.map((i) => [i.InstanceId!, i]));
  const seen: DescribeInstancesCommandInput[] = [];
  const answer = (input: DescribeInstancesCommandInput) => {
    seen.push(structuredClone(input));
    let ids: string[];
    if (input.InstanceIds?.length) {
      const missing = input.InstanceIds.filter((id) => !known.has(id));
      if (missing.length) {
        throw ec2Error(
          'InvalidInstanceID.NotFound',
          `The instance IDs '${missing.join(', ')}' do not exist`,
        );
      }
      ids = input.InstanceIds;
    } else {
      const filter = input.Filters?.find((f) => f.Name === 'instance-id');
      if ((filter?.Values?.length ?? 0) > 200) {
        throw ec2Error(
          'FilterLimitExceeded',
          'The maximum number of filter values specified on a single call is 200',
        );
      }
      ids = (filter?.Values ?? [...known.keys()]).filter((id) => known.has(id));
    }
    const start = Number(input.NextToken ?? 0);
    const page = ids.slice(start, start + pageSize);
    return {
      Reservations: page.map((id) => ({ ReservationId: `r-${id}`, Instances: [known.get(id)!] })),
      ...(start + pageSize < ids.length ? { NextToken: String(start + pageSize) } : {}),
    };
  };
  return { answer, seen };
}

function running(id: string, address: string | undefined): Instance {
  return {
    InstanceId: id,
    ...(address ? { PrivateIpAddress: address } : {}),
    State: { Name: 'running', Code: 16 },
  };
}

describe('aws/ec2', () => {
  let ec2: AwsClientStub<EC2Client>;
  let adapter: Ec2Addresses;

  beforeEach(() => {
    ec2 = mockClient(EC2Client);
    adapter = new Ec2Addresses(new EC2Client({ region: 'us-east-1' }));
  });
  afterEach(() => {
    ec2.restore();
  });

  it('maps instance ids to private addresses across pages', async () => {
    const instances = Array.from({ length: 8 }, (_, i) => running(`i-${i}`, `127.0.1.${i + 4}`));
    const fake = fakeEc2(instances, 3);
    ec2.on(DescribeInstancesCommand).callsFake(fake.answer);

    const addresses = await adapter.privateAddresses(instances.map((i) => i.InstanceId!));

    expect([...addresses]).to.deep.equal(instances.map((i) => [i.InstanceId, i.PrivateIpAddress]));
    expect(fake.seen.map((s) => s.NextToken)).to.deep.equal([undefined, '3', '6']);
  });

  it('asks by instance-id filter in batches of at most 200 ids', async () => {
    const instances = Array.from({ length: 450 }, (_, i) =>
      running(`i-${i}`, `127.0.${1 + (i >> 8)}.${i & 255}`),
    );
    const fake = fakeEc2(instances, 1000);
    ec2.on(DescribeInstancesCommand).callsFake(fake.answer);

    const addresses = await adapter.privateAddresses(instances.map((i) => i.InstanceId!));

    expect(addresses.size).to.equal(450);
    expect(fake.seen.map((s) => s.Filters![0]!.Values!.length)).to.deep.equal([200, 200, 50]);
    for (const input of fake.seen) {
      expect(input.InstanceIds).to.equal(undefined);
      expect(input.Filters![0]!.Name).to.equal('instance-id');
      expect(input.MaxResults).to.equal(1000);
    }
  });

  it('keeps the other instances of a batch when some ids do not exist', async () => {
    const instances = [running('i-a', '127.0.1.4'), running('i-b', '127.0.1.5')];
    ec2.on(DescribeInstancesCommand).callsFake(fakeEc2(instances).answer);

    const addresses = await adapter.privateAddresses(['i-a', 'i-gone', 'i-b', 'not-even-an-id']);

    expect(Object.fromEntries(addresses)).to.deep.equal({ 'i-a': '127.0.1.4', 'i-b': '127.0.1.5' });
  });

  it('leaves out instances without an address and terminated ones', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .callsFake(
        fakeEc2([
          running('i-a', '127.0.1.4'),
          running('i-pending', undefined),
          { InstanceId: 'i-dead', PrivateIpAddress: '127.0.1.9', State: { Name: 'terminated' } },
        ]).answer,
      );

    const addresses = await adapter.privateAddresses(['i-a', 'i-pending', 'i-dead']);

    expect(Object.fromEntries(addresses)).to.deep.equal({ 'i-a': '127.0.1.4' });
  });

  it('asks for each id once and makes no call for none', async () => {
    const fake = fakeEc2([running('i-a', '127.0.1.4')]);
    ec2.on(DescribeInstancesCommand).callsFake(fake.answer);

    expect((await adapter.privateAddresses([])).size).to.equal(0);
    expect(fake.seen).to.have.length(0);

    await adapter.privateAddresses(['i-a', 'i-a']);
    expect(fake.seen[0]!.Filters![0]!.Values).to.deep.equal(['i-a']);
  });

  it('wraps a failure in UpstreamError with the cause', async () => {
    const cause = ec2Error('RequestLimitExceeded', 'Request limit exceeded.');
    ec2.on(DescribeInstancesCommand).rejects(cause);

    const err = await adapter.privateAddresses(['i-a']).catch((e: unknown) => e);

    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as UpstreamError).cause).to.equal(cause);
    expect(awsErrorName(err)).to.equal('RequestLimitExceeded');
  });
});
