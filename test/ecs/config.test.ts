import { expect } from 'chai';
import {
  mergeSettings,
  parseSettingsFromEnv,
  parseSettingsFromObject,
  parseSettingsFromTags,
} from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { parseProtectEvent } from '../../lib/protect/event.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('ECS mode configuration', () => {
  it('is off by default (HTTP mode)', () => {
    expect(mergeSettings().ecsCluster).to.equal(undefined);
  });

  it('layers defaults < THEMIS_ECS_CLUSTER < themis:ecs-cluster < the event', () => {
    const env = parseSettingsFromEnv({ THEMIS_ECS_CLUSTER: 'from-env' });
    const tags = parseSettingsFromTags({ 'themis:ecs-cluster': 'from-tag' });
    const event = parseSettingsFromObject({ ecsCluster: 'from-event' });

    expect(mergeSettings(env).ecsCluster).to.equal('from-env');
    expect(mergeSettings(env, tags).ecsCluster).to.equal('from-tag');
    expect(mergeSettings(env, tags, event).ecsCluster).to.equal('from-event');
  });

  it('accepts a cluster ARN', () => {
    const arn = 'arn:aws:ecs:eu-west-1:123456789012:cluster/jobs';
    expect(parseSettingsFromObject({ ecsCluster: arn }).ecsCluster).to.equal(arn);
  });

  const bad = ['', 'two words', 'a/b', 'arn:aws:ecs:eu-west-1:123:cluster/jobs', 'x'.repeat(256)];
  for (const value of bad) {
    it(`names the source of a bad cluster ${JSON.stringify(value.slice(0, 40))}`, () => {
      const fromEnv = thrown(() => parseSettingsFromEnv({ THEMIS_ECS_CLUSTER: value || ' x y' }));
      const fromTag = thrown(() => parseSettingsFromTags({ 'themis:ecs-cluster': value }));
      const fromEvent = thrown(() => parseSettingsFromObject({ ecsCluster: value }));

      expect((fromEnv as ConfigError).field).to.equal('THEMIS_ECS_CLUSTER');
      expect((fromTag as ConfigError).field).to.equal('themis:ecs-cluster');
      expect((fromEvent as ConfigError).field).to.equal('ecsCluster');
    });
  }

  it('reads ecsCluster in a protect target of an event', () => {
    const request = parseProtectEvent(
      { targets: [{ asgName: 'jobs', ecsCluster: 'jobs' }] },
      'us-east-1',
    );

    expect(request).to.deep.equal({
      kind: 'explicit',
      targets: [{ asgName: 'jobs', region: 'us-east-1', settings: { ecsCluster: 'jobs' } }],
    });
  });
});
