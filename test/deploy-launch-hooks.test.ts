/**
 * The deploy's launch hook (param launchHooks): the stack deploy/stack.cjs hands osls
 * (resolveStack of deploy/stack.ts, which that file loads) built the way osls calls it, with
 * serverless.yml's own defaults and numbers — fast, without `serverless package` (the
 * packaging test builds and lints the whole template).
 *
 * Imported, not require()d through deploy/stack.cjs: that loads lib/ a second time through
 * tsx's CommonJS hooks in this process, and every later test file then met two ConfigError
 * classes (protect/event and protect/handler failed in the whole suite, never alone).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { LAUNCHING, LAUNCH_DETAIL_TYPE, TERMINATE_DETAIL_TYPE } from '../lib/aws/facts.js';
import { parseGateEnv } from '../lib/gate/config.js';
import { LAUNCH_ABANDONS_TAG } from '../lib/gate/launch.js';
import { resolveStack } from '../deploy/stack.js';

type Built = {
  eventPattern: { 'detail-type': string[]; detail: { LifecycleHookName: string[] } };
  launchHookName: string;
  resources: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
};
const buildStack = resolveStack as unknown as (
  resolvers: Parameters<typeof resolveStack>[0],
) => Promise<Built>;

const yml = YAML.parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'silent' }) as {
  params: { default: Record<string, string> };
};

function build(params: Record<string, string>): Promise<Built> {
  const all: Record<string, string> = { ...yml.params.default, groups: 'render,encode', ...params };
  return buildStack({
    resolveVariable: async (name) => {
      if (name === 'sls:stage') return 'ci';
      const key = name.replace(/^param:/, '');
      return all[key];
    },
    resolveConfigurationProperty: async (path) =>
      path.reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], yml),
  });
}

function ofType(built: Built, type: string) {
  return Object.entries(built.resources.Resources).filter(([, r]) => r.Type === type);
}

function gateStatements(built: Built): Array<Record<string, unknown>> {
  const role = built.resources.Resources.GateRole as unknown as {
    Properties: { Policies: { PolicyDocument: { Statement: Array<Record<string, unknown>> } }[] };
  };
  return role.Properties.Policies.flatMap((p) => p.PolicyDocument.Statement);
}

describe('deploy: launch hooks (param launchHooks)', function () {
  this.timeout(30_000);

  it('installs no launch hook, routes no launch event and grants no tag write by default', async () => {
    const built = await build({});
    const hooks = ofType(built, 'AWS::AutoScaling::LifecycleHook').map(([, r]) => r.Properties);
    expect(hooks.map((h) => h.LifecycleTransition)).to.not.include(LAUNCHING);
    expect(built.eventPattern['detail-type']).to.deep.equal([TERMINATE_DETAIL_TYPE]);
    expect(built.launchHookName).to.equal('');
    // The gate reads the empty variable as "no launch hook of its own".
    expect(
      parseGateEnv({ THEMIS_RECHECK_QUEUE_URL: 'https://sqs/q', THEMIS_LAUNCH_HOOK_NAME: '' }),
    ).to.not.have.property('launchHookName');
    const actions = gateStatements(built).flatMap((s) => s.Action as string[]);
    expect(actions).to.not.include('autoscaling:CreateOrUpdateTags');
  });

  it('with launchHooks=true, puts a launch hook on each listed group that defaults to CONTINUE', async () => {
    const built = await build({ launchHooks: 'true' });
    const launch = ofType(built, 'AWS::AutoScaling::LifecycleHook')
      .map(([, r]) => r.Properties)
      .filter((h) => h.LifecycleTransition === LAUNCHING);
    expect(launch.map((h) => h.AutoScalingGroupName).sort()).to.deep.equal(['encode', 'render']);
    for (const hook of launch) {
      expect(hook).to.include({ LifecycleHookName: 'themis-launch', DefaultResult: 'CONTINUE' });
    }
  });

  it('routes launch events of its own launch hook to the gate and tells the gate its name', async () => {
    const built = await build({ launchHooks: 'true', launchHookName: 'ready-gate' });
    expect(built.eventPattern['detail-type']).to.deep.equal([
      TERMINATE_DETAIL_TYPE,
      LAUNCH_DETAIL_TYPE,
    ]);
    expect(built.eventPattern.detail.LifecycleHookName).to.deep.equal(['themis', 'ready-gate']);
    expect(built.launchHookName).to.equal('ready-gate');
  });

  it('lets the gate write only the abandon-count tag, only on the listed groups', async () => {
    const built = await build({ launchHooks: 'true' });
    const statements = gateStatements(built).filter((s) =>
      (s.Action as string[]).includes('autoscaling:CreateOrUpdateTags'),
    );
    expect(statements).to.have.length(1);
    const [st] = statements;
    expect(st!.Action).to.deep.equal(['autoscaling:CreateOrUpdateTags', 'autoscaling:DeleteTags']);
    expect(JSON.stringify(st!.Resource)).to.contain('autoScalingGroupName/render');
    expect(st!.Condition).to.deep.equal({
      'ForAllValues:StringEquals': { 'aws:TagKeys': [LAUNCH_ABANDONS_TAG] },
    });
  });

  it('refuses a launch hook named like the terminate hook', async () => {
    const err = await build({ launchHooks: 'true', launchHookName: 'themis' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/launchHookName.*must differ from hookName/);
  });
});
