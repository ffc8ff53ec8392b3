/**
 * Private addresses of instances (ec2:DescribeInstances).
 *
 * We ask by the `instance-id` *filter*, not the InstanceIds parameter: with InstanceIds one
 * unknown or malformed id (an instance EC2 does not know yet — eventual consistency — or
 * one long gone) fails the whole call with InvalidInstanceID.NotFound/Malformed, so every
 * other instance in the batch would go unprobed. A filter simply matches nothing for such
 * an id, which is exactly the port's contract ("unknown instances are absent"), and unlike
 * InstanceIds it may be combined with MaxResults, so pages stay bounded.
 *
 * Pages are followed in a loop of our own (the SDK's paginators take no abort signal), each
 * call under the caller's signal; no further page or batch is asked for once it aborted.
 */
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { UpstreamError } from '../errors.js';
import type { CallOptions, InstanceAddresses } from '../ports.js';
import { chunk, listForMessage, nextToken, sendUnder } from './util.js';

/** EC2 rejects more than 200 filter values in one call (FilterLimitExceeded). */
export const MAX_IDS_PER_CALL = 200;
/** The API's largest page; a batch of 200 instances fits in one. */
const PAGE_SIZE = 1000;

export class Ec2Addresses implements InstanceAddresses {
  constructor(private readonly client: EC2Client) {}

  async privateAddresses(instanceIds: string[], opts?: CallOptions): Promise<Map<string, string>> {
    const wanted = new Set(instanceIds);
    const addresses = new Map<string, string>();
    for (const batch of chunk([...wanted], MAX_IDS_PER_CALL)) {
      try {
        let token: string | undefined;
        do {
          const page = await sendUnder(opts, (o) =>
            this.client.send(
              new DescribeInstancesCommand({
                Filters: [{ Name: 'instance-id', Values: batch }],
                MaxResults: PAGE_SIZE,
                ...(token ? { NextToken: token } : {}),
              }),
              o,
            ),
          );
          for (const reservation of page.Reservations ?? []) {
            for (const instance of reservation.Instances ?? []) {
              const id = instance.InstanceId;
              const address = reachableAddress(instance);
              if (id && address && wanted.has(id)) addresses.set(id, address);
            }
          }
          token = nextToken(token, page.NextToken);
        } while (token);
      } catch (cause) {
        throw new UpstreamError(`DescribeInstances ${listForMessage(batch)}`, { cause });
      }
    }
    return addresses;
  }
}

/**
 * A terminated instance can still be listed for up to an hour, but its address is back in
 * the subnet's pool and may already belong to another instance: never hand it out.
 */
function reachableAddress(instance: Instance): string | undefined {
  if (instance.State?.Name === 'terminated') return undefined;
  return instance.PrivateIpAddress || undefined;
}
