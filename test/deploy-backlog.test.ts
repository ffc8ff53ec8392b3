/**
 * deploy/backlog.ts: the target-tracking policy per queue-driven group and the protect
 * role's read of the work queues — its params, and the stack `serverless package` builds
 * with them (cfn-lint included).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import YAML from 'yaml';
import { parseDeployParams } from '../deploy/params.js';
import { cfnLint } from './packaging/cfn-lint.js';
import { roleStatements } from './packaging/iam.js';
import {
  packageStack,
  props,
  resource,
  resourcesOfType,
  type PackagedStack,
  type Template,
} from './packaging/package-stack.js';

const SERVERLESS_YML = YAML.parse(readFileSync('serverless.yml', 'utf8'), {
  logLevel: 'silent',
}) as {
  params: { default: Record<string, string> };
  custom: { gate: { timeoutSeconds: number; visibilityTimeoutSeconds: number; batchSize: number } };
};

/** The backlog params, parsed with the deploy's one schema over serverless.yml's defaults. */
function parseBacklog(raw: Record<string, string>) {
  const { gate } = SERVERLESS_YML.custom;
  const p = parseDeployParams(
    { ...SERVERLESS_YML.params.default, ...raw },
    {
      functionTimeoutSeconds: gate.timeoutSeconds,
      visibilityTimeoutSeconds: gate.visibilityTimeoutSeconds,
      batchSize: gate.batchSize,
    },
  );
  return {
    targets: p.backlogTargets,
    queueArns: p.backlogQueueArns,
    subMinute: p.scansPerInvocation > 1,
  };
}

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:jobs';
const RECIPE_PARAMETERS = JSON.stringify({
  sourceType: 'S3',
  sourceInfo: JSON.stringify({
    path: 'https://s3.amazonaws.com/my-scripts-bucket/themis/pre-termination.sh',
  }),
  commandLine: 'pre-termination.sh',
  executionTimeout: '600',
});

describe('deploy backlog params', () => {
  it('reads group=target pairs and the queues protect may read', () => {
    expect(
      parseBacklog({
        backlogTargets: 'workers=20, render_farm=2.5',
        backlogQueueArns: `${QUEUE_ARN},arn:aws:sqs:us-east-1:123456789012:frames.fifo`,
        scansPerInvocation: '6',
      }),
    ).to.deep.equal({
      targets: [
        { group: 'workers', target: 20 },
        { group: 'render_farm', target: 2.5 },
      ],
      queueArns: [QUEUE_ARN, 'arn:aws:sqs:us-east-1:123456789012:frames.fifo'],
      subMinute: true,
    });
  });

  const refusals: Array<[string, Record<string, string>, string]> = [
    [
      'a target that is not a positive number',
      { backlogTargets: 'workers=0', backlogQueueArns: QUEUE_ARN },
      'param "backlogTargets": the target of workers must be a positive number, not "0"',
    ],
    [
      'an entry without a target',
      { backlogTargets: 'workers', backlogQueueArns: QUEUE_ARN },
      'param "backlogTargets": "workers" is not <group>=<messages per instance>',
    ],
    [
      'the same group twice',
      { backlogTargets: 'w=1,w=2', backlogQueueArns: QUEUE_ARN },
      'param "backlogTargets": names a group twice',
    ],
    [
      'a queue URL where an ARN belongs',
      { backlogQueueArns: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs' },
      'param "backlogQueueArns": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs" is not an SQS queue ARN',
    ],
    [
      'targets with no queue protect may read (the metric would never be published)',
      { backlogTargets: 'workers=20' },
      'param "backlogQueueArns": must name the work queues when backlogTargets is set',
    ],
  ];
  for (const [what, raw, message] of refusals) {
    it(`refuses ${what}, naming the param`, () => {
      expect(() => parseBacklog({ scansPerInvocation: '1', ...raw })).to.throw(message);
    });
  }
});

describe('deploy backlog parts packaged @slow', function () {
  this.timeout(300_000);
  let stack: PackagedStack;
  let t: Template;
  before(async () => {
    stack = await packageStack({
      stage: 'ci',
      params: {
        groups: 'workers',
        scansPerInvocation: '6',
        queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
        backlogQueueArns: QUEUE_ARN,
        backlogTargets: 'workers=20,render=3',
        // docs/s3-script.md's recipe, in the same stack.
        ssmDocument: 'AWS-RunRemoteScript',
        ssmParameters: RECIPE_PARAMETERS,
      },
    });
    t = stack.template;
  });
  after(async () => {
    await stack?.cleanup();
  });

  it('adds a target-tracking policy on BacklogPerInstance per group, read every 10 s', () => {
    const policies = resourcesOfType(t, 'AWS::AutoScaling::ScalingPolicy').map(([, r]) => props(r));
    expect(policies).to.have.length(2);
    const workers = policies.find((p) => p.AutoScalingGroupName === 'workers')!;
    expect(workers).to.deep.equal({
      AutoScalingGroupName: 'workers',
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        TargetValue: 20,
        CustomizedMetricSpecification: {
          Namespace: 'themis',
          MetricName: 'BacklogPerInstance',
          // Powertools puts the service on every metric: the policy must name it too.
          Dimensions: [
            { Name: 'service', Value: 'themis-protect' },
            { Name: 'AutoScalingGroupName', Value: 'workers' },
          ],
          Statistic: 'Average',
          Period: 10,
        },
      },
    });
  });

  it('lets protect read the named queues, and only with GetQueueAttributes', () => {
    const policies = resourcesOfType(t, 'AWS::IAM::Policy');
    expect(policies).to.have.length(1);
    const policy = props(policies[0]![1]);
    expect(policy.Roles).to.deep.equal([{ Ref: 'ProtectRole' }]);
    expect(policy.PolicyDocument).to.deep.equal({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadWorkQueueDepth',
          Effect: 'Allow',
          Action: ['sqs:GetQueueAttributes'],
          Resource: [QUEUE_ARN],
        },
      ],
    });
  });

  it('gives protect THEMIS_QUEUE_URL from the queueUrl param', () => {
    const env = props(resource(t, 'ProtectLambdaFunction')).Environment as {
      Variables: Record<string, unknown>;
    };
    expect(env.Variables.THEMIS_QUEUE_URL).to.equal(
      'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
    );
  });

  it("lets the gate send the S3-script recipe's AWS-RunRemoteScript (docs/s3-script.md)", () => {
    const gate = roleStatements(t, 'GateRole');
    const run = gate.find((st) => st.Sid === 'RunConfiguredDocument')!;
    expect(run.Action).to.deep.equal(['ssm:SendCommand', 'ssm:DescribeDocument']);
    // AWS-owned documents have no account in their ARN.
    expect(run.Resource).to.deep.equal({
      'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunRemoteScript',
    });
    const env = props(resource(t, 'GateLambdaFunction')).Environment as {
      Variables: Record<string, unknown>;
    };
    expect(env.Variables).to.include({
      THEMIS_SSM_DOCUMENT: 'AWS-RunRemoteScript',
      THEMIS_SSM_PARAMETERS: RECIPE_PARAMETERS,
    });
  });

  it('passes cfn-lint with no errors', async () => {
    const findings = await cfnLint(stack.templatePath);
    expect(findings.filter((f) => f.level === 'Error')).to.deep.equal([]);
  });
});
