/**
 * A group's own tags, written: autoscaling:CreateOrUpdateTags and DeleteTags, one call each.
 * The launch gate keeps its count of abandons in a row here (lib/gate/launch.ts); the tag is
 * not propagated to instances.
 */
import {
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { UpstreamError } from '../errors.js';
import type { CallOptions, GroupTagWriter } from '../ports.js';
import { sendUnder } from './util.js';

/** The ResourceType of a tag on an Auto Scaling group. */
const GROUP_RESOURCE = 'auto-scaling-group';

export class AutoScalingGroupTags implements GroupTagWriter {
  constructor(private readonly client: AutoScalingClient) {}

  async setTag(
    groupName: string,
    key: string,
    value: string | undefined,
    opts?: CallOptions,
  ): Promise<void> {
    const tag = { ResourceId: groupName, ResourceType: GROUP_RESOURCE, Key: key };
    try {
      await sendUnder(opts, (o) =>
        this.client.send(
          value === undefined
            ? new DeleteTagsCommand({ Tags: [tag] })
            : new CreateOrUpdateTagsCommand({
                Tags: [{ ...tag, Value: value, PropagateAtLaunch: false }],
              }),
          o,
        ),
      );
    } catch (cause) {
      const op = value === undefined ? 'DeleteTags' : 'CreateOrUpdateTags';
      throw new UpstreamError(`${op} ${groupName} ${key}`, { cause });
    }
  }
}
