import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { AutoScalingGroupTags } from '../../lib/aws/group-tags.js';
import { UpstreamError } from '../../lib/errors.js';
import { autoScalingError } from '../helpers/auto-scaling.js';

describe('aws/group-tags', () => {
  let mock: ReturnType<typeof mockClient>;
  let tags: AutoScalingGroupTags;

  beforeEach(() => {
    mock = mockClient(AutoScalingClient);
    tags = new AutoScalingGroupTags(new AutoScalingClient({ region: 'us-east-1' }));
  });
  afterEach(() => mock.restore());

  it('writes one tag of the group, not propagated to instances', async () => {
    mock.on(CreateOrUpdateTagsCommand).resolves({});
    await tags.setTag('render', 'themis:launch-abandons', '1 2024-05-01T12:00:00.000Z');
    expect(mock.commandCalls(CreateOrUpdateTagsCommand)[0]!.args[0].input).to.deep.equal({
      Tags: [
        {
          ResourceId: 'render',
          ResourceType: 'auto-scaling-group',
          Key: 'themis:launch-abandons',
          Value: '1 2024-05-01T12:00:00.000Z',
          PropagateAtLaunch: false,
        },
      ],
    });
  });

  it('deletes the tag when the value is undefined', async () => {
    mock.on(DeleteTagsCommand).resolves({});
    await tags.setTag('render', 'themis:launch-abandons', undefined);
    expect(mock.commandCalls(CreateOrUpdateTagsCommand)).to.have.length(0);
    expect(mock.commandCalls(DeleteTagsCommand)[0]!.args[0].input).to.deep.equal({
      Tags: [
        { ResourceId: 'render', ResourceType: 'auto-scaling-group', Key: 'themis:launch-abandons' },
      ],
    });
  });

  it('wraps a refusal in an UpstreamError naming the call, group and key, with the cause', async () => {
    mock.on(CreateOrUpdateTagsCommand).rejects(autoScalingError('AccessDenied', 'not allowed'));
    const err = await tags.setTag('render', 'k', 'v').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UpstreamError);
    expect((err as Error).message).to.contain('CreateOrUpdateTags render k');
    expect(((err as Error).cause as Error).name).to.equal('AccessDenied');
  });

  it('passes the caller signal to the SDK', async () => {
    mock.on(DeleteTagsCommand).resolves({});
    const controller = new AbortController();
    await tags.setTag('render', 'k', undefined, { signal: controller.signal });
    const call = mock.commandCalls(DeleteTagsCommand)[0]!;
    const options = (call.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined;
    expect(options?.abortSignal).to.be.instanceOf(AbortSignal);
  });
});
