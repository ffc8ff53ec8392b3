/**
 * The deploy's restructuring keeps the stacks it builds: for serverless.yml's defaults and
 * four param combinations (test/packaging/template-compare.ts), `serverless package` builds
 * the stack that the deploy of commit 01b7b44 built (test/packaging/fixtures/stacks.json,
 * written by test/packaging/write-template-fixtures.ts on that commit), as CloudFormation
 * would create it: conditions evaluated, code locations left out. cfn-lint accepts each.
 *
 * The intended differences are written out below (withRuleArnByName, withLaunchHookEnv —
 * which also adds the first-step spread — withRetainedNoticeQueue and
 * withRetainedUnansweredAlarm).
 *
 * Broken variants tried: a lifecycle hook's DependsOn without the rule, the e-mail
 * subscription's condition inverted, the protect role without its VPC statement — each fails
 * here naming the resource.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { cfnLintAll, unexpectedLintFindings, type CfnLintFinding } from './packaging/cfn-lint.js';
import type { PackagedStack } from './packaging/package-stack.js';
import {
  COMPARED_STACKS,
  applyDelta,
  effectiveStack,
  packageCompared,
  type StackDelta,
} from './packaging/template-compare.js';

const fixtures = JSON.parse(
  readFileSync(join(import.meta.dirname, 'packaging', 'fixtures', 'stacks.json'), 'utf8'),
) as { defaults: Record<string, unknown>; others: Record<string, StackDelta> };

/**
 * The one intended difference: the events dead-letter queue's policy names the lifecycle rule
 * by its ARN, built from the name serverless.yml gives the rule, instead of `Fn::GetAtt` of the
 * logical id osls derives (which the deploy had to recompute). Both are the same ARN once
 * CloudFormation resolves them.
 */
function withRuleArnByName(before: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(before)) as {
    Resources: Record<
      string,
      {
        Properties: {
          PolicyDocument: { Statement: { Condition: { ArnEquals: Record<string, unknown> } }[] };
        };
      }
    >;
  };
  const condition =
    copy.Resources.EventsDeadLetterQueuePolicy!.Properties.PolicyDocument.Statement[0]!.Condition
      .ArnEquals;
  expect(condition['aws:SourceArn']).to.deep.equal({
    'Fn::GetAtt': ['Themiscigaterule1EventBridgeRule', 'Arn'],
  });
  condition['aws:SourceArn'] = {
    'Fn::Sub':
      'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/themis-ci-lifecycle-action',
  };
  return copy;
}

/**
 * A later, intended addition (issue 14, the launch gate): the gate's environment names its
 * launch hook, THEMIS_LAUNCH_HOOK_NAME — empty unless launchHooks=true, which no compared stack
 * sets (the launch hooks themselves are tested in test/deploy-launch-hooks.test.ts).
 */
function withLaunchHookEnv(before: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(before)) as {
    Resources: Record<
      string,
      { Properties: { Environment: { Variables: Record<string, unknown> } } }
    >;
  };
  const env = copy.Resources.GateLambdaFunction!.Properties.Environment.Variables;
  env.THEMIS_LAUNCH_HOOK_NAME = '';
  // And issue 10's first-step spread (param firstStepSpreadSeconds, deployed at 10; no
  // compared stack sets it): a lifecycle event's first step runs 0–10 s later from the queue.
  env.THEMIS_FIRST_STEP_SPREAD_SECONDS = '10';
  return copy;
}

/**
 * A later, intended addition (issue 14, retention): a "released retained" notice that SNS
 * refuses goes to the gate's recheck queue, so protect's environment names the queue and its
 * role may SendMessage to it (after PublishRetainedReleases), and nothing else of the queue.
 */
function withRetainedNoticeQueue(before: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(before)) as {
    Resources: Record<
      string,
      {
        Properties: {
          Environment: { Variables: Record<string, unknown> };
          Policies: { PolicyDocument: { Statement: { Sid?: string }[] } }[];
        };
      }
    >;
  };
  copy.Resources.ProtectLambdaFunction!.Properties.Environment.Variables.THEMIS_RECHECK_QUEUE_URL =
    { Ref: 'RecheckQueue' };
  const statements = copy.Resources.ProtectRole!.Properties.Policies[0]!.PolicyDocument.Statement;
  const at = statements.findIndex((st) => st.Sid === 'PublishRetainedReleases');
  expect(at, 'PublishRetainedReleases').to.be.at.least(0);
  statements.splice(at + 1, 0, {
    Sid: 'QueueRetainedReleases',
    Effect: 'Allow',
    Action: ['sqs:SendMessage'],
    Resource: { 'Fn::GetAtt': ['RecheckQueue', 'Arn'] },
  } as { Sid: string });
  return copy;
}

/**
 * And the alarm on retained instances that never answer (issue 14): protect's fleet-wide
 * RetainedUnanswered count ≥ 1 in 25 of the last 30 minutes tells the outcome topic.
 */
function withRetainedUnansweredAlarm(before: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(before)) as { Resources: Record<string, unknown> };
  copy.Resources.RetainedUnansweredAlarm = {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: 'themis-ci-retained-unanswered',
      AlarmDescription:
        "a retained instance has not answered themis's probe in 25 of the last 30 minutes; it is kept (never terminated on silence) until it answers IDLE or an operator terminates it — see themis holds",
      Namespace: 'themis',
      MetricName: 'RetainedUnanswered',
      Dimensions: [{ Name: 'service', Value: 'themis-protect' }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 30,
      DatapointsToAlarm: 25,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'OutcomeTopic' }],
      OKActions: [{ Ref: 'OutcomeTopic' }],
    },
  };
  return copy;
}

describe('deploy stacks, before and after the deploy restructuring @slow', function () {
  this.timeout(600_000);

  // Every stack packaged at once (two `serverless package` at a time, test/packaging/
  // package-stack.ts), then linted in one cfn-lint run; each test checks its own.
  const packaged = new Map<string, Promise<PackagedStack>>();
  let lints: Promise<Map<string, CfnLintFinding[]>>;
  before(() => {
    for (const name of Object.keys(COMPARED_STACKS)) {
      const stack = packageCompared(name);
      stack.catch(() => undefined); // awaited, and reported, by its own test
      packaged.set(name, stack);
    }
    lints = Promise.allSettled(packaged.values()).then((settled) =>
      cfnLintAll(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.templatePath] : []))),
    );
    lints.catch(() => undefined);
  });

  for (const [name, { params }] of Object.entries(COMPARED_STACKS)) {
    it(`builds the same stack as before for ${name} (${Object.keys(params).join(', ') || 'no params'}), which cfn-lint accepts`, async () => {
      const stack = await packaged.get(name)!;
      try {
        const before = withRetainedUnansweredAlarm(
          withRetainedNoticeQueue(
            withLaunchHookEnv(
              withRuleArnByName(
                name === 'defaults'
                  ? fixtures.defaults
                  : applyDelta(fixtures.defaults, fixtures.others[name]!),
              ),
            ),
          ),
        );
        const after = effectiveStack(stack.template);
        const ids = Object.keys(before.Resources as object).sort();
        expect(Object.keys(after.Resources as object).sort(), 'resource ids').to.deep.equal(ids);
        for (const id of ids) {
          expect((after.Resources as Record<string, unknown>)[id], id).to.deep.equal(
            (before.Resources as Record<string, unknown>)[id],
          );
        }
        expect(after).to.deep.equal(before);
        const findings = (await lints).get(stack.templatePath)!;
        expect(unexpectedLintFindings(findings)).to.deep.equal([]);
      } finally {
        await stack.cleanup();
      }
    });
  }
});
