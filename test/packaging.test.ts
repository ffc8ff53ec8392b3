/**
 * Deployment: `serverless package` builds the whole stack offline, the template is what the
 * params ask for and no more (least privilege), cfn-lint accepts it, and the zips it produces
 * import and run as Lambda would run them. Two packages: every param set, and the minimum
 * (tag discovery only). Each takes seconds, hence @slow.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import {
  DEFAULT_GATE_TIMING,
  DEFAULT_HEARTBEAT_MARGIN_SECONDS,
  FAILED_STEPS_RIDDEN,
  heartbeatMarginSeconds,
  MAX_PROBE_TIMEOUT_MS,
  requiredFunctionTimeoutSeconds,
  type GateTiming,
} from '../lib/gate/budget.js';
import { cfnLint, cfnLintAll, unexpectedLintFindings } from './packaging/cfn-lint.js';
import {
  ALLOWED_ACTIONS,
  READ_ONLY_ON_ANY,
  UNSCOPABLE_WRITES,
  VPC_ATTACHMENT,
  actionsOf,
  arnText,
  grantedActions,
  iamStatements,
  resourcesOf,
  roleStatements,
  type Statement,
} from './packaging/iam.js';
import {
  PackageError,
  dependsOn,
  packageOnce,
  packageStack,
  type PackageOptions,
  props,
  refersTo,
  resource,
  resourcesOfType,
  type PackagedStack,
  type Template,
} from './packaging/package-stack.js';
import { COMPARED_STACKS, effectiveStack } from './packaging/template-compare.js';
import { exerciseGateBundle, exerciseProtectBundle } from './packaging/bundle-checks.js';
import { PARAM_NAMES, parseDeployParams, type StackNumbers } from '../deploy/params.js';

/** serverless.yml as written (CloudFormation tags read as plain values). */
function serverlessYml(): {
  params: { default: Record<string, string> };
  custom: { gate: { timeoutSeconds: number; visibilityTimeoutSeconds: number; batchSize: number } };
} {
  return YAML.parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'silent' });
}

/** The numbers serverless.yml sets, once, that the heartbeat budget depends on. */
function stackNumbers(): StackNumbers {
  const { gate } = serverlessYml().custom;
  return {
    visibilityTimeoutSeconds: gate.visibilityTimeoutSeconds,
    functionTimeoutSeconds: gate.timeoutSeconds,
    batchSize: gate.batchSize,
  };
}
const STACK = stackNumbers();
const parseParams = (raw: Record<string, unknown>, stack: StackNumbers = STACK) =>
  parseDeployParams(raw, stack);

/** The gate timing a stack with these numbers and `recheckSeconds` runs with. */
function timingOf(stack: StackNumbers, recheckSeconds: number): GateTiming {
  return {
    recheckSeconds,
    functionTimeoutSeconds: stack.functionTimeoutSeconds,
    visibilityTimeoutSeconds: stack.visibilityTimeoutSeconds,
    maxProbeTimeoutMs: MAX_PROBE_TIMEOUT_MS,
    failedStepsRidden: FAILED_STEPS_RIDDEN,
    batchSize: stack.batchSize,
  };
}

/** Every param set (the stack test/packaging-compare.test.ts also holds to main's). */
const FULL_PARAMS = COMPARED_STACKS.full!.params;
const FULL_GROUPS = ['workers-a', 'workers_b'];

const PROTECT_ENV = [
  'THEMIS_TARGETS',
  'THEMIS_TAG_DISCOVERY',
  'THEMIS_SCANS_PER_INVOCATION',
  'THEMIS_PROBE_CONCURRENCY',
];
const GATE_ENV = [
  'THEMIS_RECHECK_SECONDS',
  'THEMIS_MAX_WAIT_SECONDS',
  'THEMIS_UNKNOWN_LIMIT',
  'THEMIS_ON_DEADLINE',
  'THEMIS_SSM_DOCUMENT',
  'THEMIS_SSM_PARAMETERS',
  'THEMIS_SSM_TIMEOUT_SECONDS',
  'THEMIS_ON_SSM_FAILURE',
  'THEMIS_HEARTBEAT_MARGIN_SECONDS',
  'THEMIS_LAUNCH_HOOK_NAME',
];
const SHARED_ENV = [
  'THEMIS_METRICS_PORT',
  'THEMIS_BUSY_URL',
  'THEMIS_BUSY_VALUE',
  'THEMIS_IDLE_VALUE',
  'THEMIS_PROBE_TIMEOUT_MS',
  'THEMIS_DRY_RUN',
  'THEMIS_PROTECT_UNKNOWN',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
];

function env(template: Template, functionId: string): Record<string, unknown> {
  const e = props(resource(template, functionId)).Environment as
    { Variables: Record<string, unknown> } | undefined;
  return e?.Variables ?? {};
}

function eventRules(template: Template, functionId: string) {
  return resourcesOfType(template, 'AWS::Events::Rule').filter(([, r]) =>
    ((props(r).Targets as { Arn: unknown }[]) ?? []).some((t) => refersTo(t.Arn) === functionId),
  );
}

function lifecycleRule(template: Template) {
  const rules = resourcesOfType(template, 'AWS::Events::Rule').filter(
    ([, r]) => props(r).EventPattern !== undefined,
  );
  expect(rules, 'one event-pattern rule').to.have.length(1);
  return rules[0]!;
}

/** The allow-list and wildcard rules every packaged stack obeys, whatever its params. */
function checkLeastPrivilege(template: Template): void {
  const statements = iamStatements(template);
  expect(statements.length).to.be.greaterThan(0);
  for (const { owner, statement } of statements) {
    const where = `${owner} ${statement.Sid ?? JSON.stringify(statement)}`;
    expect(statement.Effect, where).to.equal('Allow');
    expect(statement, where).not.to.have.any.keys('NotAction', 'NotResource');
    const actions = actionsOf(statement);
    expect(actions.length, where).to.be.greaterThan(0);
    for (const action of actions) {
      expect(action, where).not.to.include('*');
      expect(ALLOWED_ACTIONS.has(action), `${where}: ${action} is not in the allow-list`).to.equal(
        true,
      );
    }
    const resources = resourcesOf(statement);
    expect(resources.length, where).to.be.greaterThan(0);
    if (resources.includes('*')) {
      for (const action of actions) {
        expect(
          READ_ONLY_ON_ANY.includes(action) ||
            UNSCOPABLE_WRITES.includes(action) ||
            VPC_ATTACHMENT.includes(action),
          `${where}: ${action} on "*"`,
        ).to.equal(true);
      }
    }
  }
  // No managed policies (AWS's come with broader grants than these) and no shared role.
  for (const [id, r] of resourcesOfType(template, 'AWS::IAM::Role')) {
    expect(props(r).ManagedPolicyArns, id).to.equal(undefined);
  }
  expect(template.Resources).not.to.have.property('IamRoleLambdaExecution');
  expect(refersTo(props(resource(template, 'ProtectLambdaFunction')).Role)).to.equal('ProtectRole');
  expect(refersTo(props(resource(template, 'GateLambdaFunction')).Role)).to.equal('GateRole');
}

/** Statements of `roleId` that grant `action`. */
function granting(template: Template, roleId: string, action: string): Statement[] {
  return roleStatements(template, roleId).filter((s) => actionsOf(s).includes(action));
}

const groupArn = (name: string) =>
  `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${name}`;

describe('deploy stack params', () => {
  const ok = {
    groups: 'a,b',
    tagDiscovery: 'false',
    installHooks: 'true',
    hookName: 'themis',
    heartbeatTimeout: '1800',
    hookDefaultResult: 'CONTINUE',
    subnetIds: '',
    securityGroupIds: '',
    notifyEmail: '',
    ssmDocument: '',
    recheckSeconds: '30',
    logRetentionDays: '30',
  };
  const error = (overrides: Record<string, unknown>) => {
    try {
      parseParams({ ...ok, ...overrides });
    } catch (err) {
      return (err as Error).message;
    }
    return 'no error';
  };
  /** The error for the default params on a serverless.yml with other numbers. */
  const error2 = (stack: StackNumbers) => {
    try {
      parseParams(ok, stack);
    } catch (err) {
      return (err as Error).message;
    }
    return 'no error';
  };

  // Broken variant tried: logRetentionDays left out of the schema — caught.
  it('has one schema field for every param serverless.yml declares, and none other', () => {
    expect([...PARAM_NAMES].sort()).to.deep.equal(
      Object.keys(serverlessYml().params.default).sort(),
    );
  });

  it('refuses a log retention CloudWatch does not offer', () => {
    expect(error({ logRetentionDays: '31' })).to.match(/^param "logRetentionDays": must be one of/);
    expect(error({ logRetentionDays: '30' })).to.equal('no error');
  });

  it('reads comma-separated and YAML-list groups alike', () => {
    expect(parseParams({ ...ok, groups: ' a , b ' }).groups).to.deep.equal(['a', 'b']);
    expect(parseParams({ ...ok, groups: ['a', 'b'] }).groups).to.deep.equal(['a', 'b']);
    expect(parseParams({ ...ok, groups: '' }).groups).to.deep.equal([]);
  });

  it('names the param whose value is wrong', () => {
    expect(error({ recheckSeconds: '901' })).to.match(/^param "recheckSeconds": .*900/);
    expect(error({ recheckSeconds: 'soon' })).to.match(/^param "recheckSeconds": .*whole number/);
    expect(error({ tagDiscovery: 'maybe' })).to.match(/^param "tagDiscovery"/);
    expect(error({ hookDefaultResult: 'WAIT' })).to.match(/^param "hookDefaultResult"/);
    // RETAIN is a policy of the gate's, not a result Auto Scaling can apply on its own.
    expect(error({ hookDefaultResult: 'RETAIN' })).to.match(/^param "hookDefaultResult"/);
    expect(error({ notifyEmail: 'ops' })).to.match(/^param "notifyEmail"/);
    expect(error({ groups: 'a,a' })).to.match(/^param "groups": .*twice/);
    expect(error({ groups: 'a/*' })).to.match(/^param "groups"/);
    expect(error({ subnetIds: 'subnet-xyz', securityGroupIds: 'sg-0123abcd' })).to.match(
      /^param "subnetIds"/,
    );
    expect(error({ hookName: 'has space' })).to.match(/^param "hookName"/);
  });

  // Broken variant tried: the old budget (recheckSeconds + 2 × visibility timeout, blind to
  // the step's own time and to AWS's 6 × guidance) — it accepted 271 s with 30 s rechecks
  // against a 120 s queue, and these tests fail against it.
  it('refuses heartbeatTimeout=271 with recheckSeconds=30, naming every number of the sum', () => {
    const margin = heartbeatMarginSeconds(timingOf(STACK, 30));
    const message = error({ heartbeatTimeout: '271', recheckSeconds: '30' });

    expect(message).to.match(
      /^param "heartbeatTimeout": must be longer than the gate's heartbeat margin/,
    );
    expect(message).to.contain(`= ${margin} s), not 271`);
    expect(message).to.contain('(recheckSeconds): 30 s');
    expect(message).to.contain(
      `${FAILED_STEPS_RIDDEN} failed steps × the visibility timeout (${STACK.visibilityTimeoutSeconds} s): ${FAILED_STEPS_RIDDEN * STACK.visibilityTimeoutSeconds} s`,
    );
    expect(message).to.contain(`(the function timeout): ${STACK.functionTimeoutSeconds} s`);
  });

  it('refuses every heartbeat timeout the margin would outlast, and accepts one second more', () => {
    const cases: [heartbeatTimeout: number, recheckSeconds: number][] = [
      [300, 30],
      [600, 5],
      [1800, 900],
    ];
    for (const [heartbeatTimeout, recheckSeconds] of cases) {
      expect(
        error({
          heartbeatTimeout: String(heartbeatTimeout),
          recheckSeconds: String(recheckSeconds),
        }),
        `${heartbeatTimeout} s with ${recheckSeconds} s rechecks`,
      ).to.match(new RegExp(`^param "heartbeatTimeout": .*not ${heartbeatTimeout}$`));
    }
    for (const recheckSeconds of [5, 30, 300]) {
      const margin = heartbeatMarginSeconds(timingOf(STACK, recheckSeconds));
      const at = { recheckSeconds: String(recheckSeconds) };
      expect(error({ ...at, heartbeatTimeout: String(margin) })).to.match(
        /^param "heartbeatTimeout"/,
      );
      expect(error({ ...at, heartbeatTimeout: String(margin + 1) })).to.equal('no error');
    }
  });

  it('refuses a recheck queue whose visibility timeout is shorter than a step, or than 6 × the function timeout', () => {
    for (const visibilityTimeoutSeconds of [60, 6 * STACK.functionTimeoutSeconds - 1]) {
      const message = error2({ ...STACK, visibilityTimeoutSeconds });
      expect(message).to.equal(
        `serverless.yml: the recheck queue's VisibilityTimeout (${visibilityTimeoutSeconds} s) must be at least 6 × the gate function's timeout (6 × ${STACK.functionTimeoutSeconds} = ${6 * STACK.functionTimeoutSeconds} s), as AWS advises for an SQS event source; shorter, a record is delivered again while its step may still run`,
      );
    }
  });

  it('refuses a gate function timeout that a step probing for 60 s would not fit', () => {
    const needs = requiredFunctionTimeoutSeconds(
      timingOf({ ...STACK, functionTimeoutSeconds: 30 }, 30),
    );
    const message = error2({ ...STACK, functionTimeoutSeconds: 30, visibilityTimeoutSeconds: 180 });
    expect(message).to.match(
      /^serverless.yml: the gate function's timeout \(30 s\) is shorter than/,
    );
    expect(message).to.contain('a 60 s probe').and.contain(`= ${needs.seconds} s`);
  });

  it('deploys by default the timing the gate assumes when no margin is given', () => {
    const defaults = serverlessYml().params.default;
    const timing = timingOf(STACK, Number(defaults.recheckSeconds));
    expect(timing).to.deep.equal(DEFAULT_GATE_TIMING);
    expect(parseParams({ ...ok, ...defaults }).heartbeatMarginSeconds).to.equal(
      DEFAULT_HEARTBEAT_MARGIN_SECONDS,
    );
    // With margin: the default hook outlasts the two failed steps' margin by minutes.
    expect(Number(defaults.heartbeatTimeout) - DEFAULT_HEARTBEAT_MARGIN_SECONDS).to.be.at.least(
      300,
    );
  });

  it('is shown in docs/deploy.md as the deploy computes it: the default sum and the refusal', () => {
    const docs = readFileSync('docs/deploy.md', 'utf8');
    const flat = docs.replace(/\s+/g, ' ');
    expect(docs).to.match(
      new RegExp(
        `\\| \\*\\*heartbeat margin\\*\\* +\\| \\*\\*${DEFAULT_HEARTBEAT_MARGIN_SECONDS}\\*\\* +\\|`,
      ),
    );
    expect(flat).to.contain(error({ heartbeatTimeout: '271', recheckSeconds: '10' }));
  });

  it('refuses subnets without security groups, and the reverse', () => {
    expect(error({ subnetIds: 'subnet-0123abcd' })).to.match(/^param "securityGroupIds"/);
    expect(error({ securityGroupIds: 'sg-0123abcd' })).to.match(/^param "subnetIds"/);
    expect(error({ subnetIds: 'subnet-0123abcd', securityGroupIds: 'sg-0123abcd' })).to.equal(
      'no error',
    );
  });
});

/** What `serverless package` with `options` failed with; a stack it made is removed at once. */
async function refusalOf(options: PackageOptions): Promise<unknown> {
  try {
    const stack = await packageStack(options);
    await stack.cleanup();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('deployment packaging @slow', function () {
  // Two `serverless package` runs (esbuild bundling both functions) plus moto for the bundles.
  this.timeout(300_000);

  // Every `serverless package` of this file started at once, two at a time (test/packaging/
  // package-stack.ts); the full stack is test/packaging-compare's when both files run. The
  // tests below await what they check.
  let fullStack: Promise<PackagedStack>;
  let minimumStack: Promise<PackagedStack>;
  let refusals: {
    heartbeat: Promise<unknown>;
    visibility: Promise<unknown>;
    param: Promise<unknown>;
  };
  let variantDir: string;
  before(async () => {
    fullStack = packageOnce({ stage: 'ci', params: FULL_PARAMS });
    minimumStack = packageStack({ stage: 'ci', params: { tagDiscovery: 'true' } });
    variantDir = await mkdtemp(join(tmpdir(), 'themis-yml-'));
    const variant = join(variantDir, 'serverless.yml');
    await writeFile(
      variant,
      readFileSync('serverless.yml', 'utf8').replace(
        /visibilityTimeoutSeconds: \d+/,
        'visibilityTimeoutSeconds: 60',
      ),
    );
    refusals = {
      heartbeat: refusalOf({
        stage: 'ci',
        params: { heartbeatTimeout: '271', recheckSeconds: '30' },
      }),
      visibility: refusalOf({ stage: 'ci', overlay: { 'serverless.yml': variant } }),
      param: refusalOf({ stage: 'ci', params: { recheckSeconds: '1200' } }),
    };
    for (const p of [fullStack, minimumStack]) p.catch(() => undefined); // awaited below
    // Both templates in one cfn-lint run; the tests' cfnLint answers from it.
    void Promise.all([fullStack, minimumStack])
      .then((stacks) => cfnLintAll(stacks.map((st) => st.templatePath)))
      .catch(() => undefined);
  });
  after(async () => {
    await (await minimumStack?.catch(() => undefined))?.cleanup();
    await Promise.allSettled(Object.values(refusals ?? {}));
    if (variantDir) await rm(variantDir, { recursive: true, force: true });
  });

  describe('with every param set', () => {
    let stack: PackagedStack;
    let t: Template;
    before(async () => {
      stack = await fullStack;
      t = stack.template;
    });
    after(async () => {
      await stack?.cleanup();
    });

    it('builds each function as an arm64 nodejs22.x ES module bundle of its own', () => {
      expect(Object.keys(stack.zips).sort()).to.deep.equal(['gate', 'protect']);
      for (const [id, handler] of [
        ['ProtectLambdaFunction', 'functions/protect.handler'],
        ['GateLambdaFunction', 'functions/gate.handler'],
      ] as const) {
        const p = props(resource(t, id));
        expect(p.Runtime, id).to.equal('nodejs22.x');
        expect(p.Architectures, id).to.deep.equal(['arm64']);
        expect(p.Handler, id).to.equal(handler);
      }
    });

    it('runs both functions in the VPC given by the params', () => {
      for (const id of ['ProtectLambdaFunction', 'GateLambdaFunction']) {
        expect(props(resource(t, id)).VpcConfig, id).to.deep.equal({
          SecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
          SubnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0123abcd'],
        });
      }
    });

    it('gives each function the environment contract, filled from the params', () => {
      const protect = env(t, 'ProtectLambdaFunction');
      const gate = env(t, 'GateLambdaFunction');
      expect(protect).to.include.keys([...SHARED_ENV, ...PROTECT_ENV]);
      expect(gate).to.include.keys([...SHARED_ENV, ...GATE_ENV]);
      expect(protect).not.to.have.any.keys(GATE_ENV);
      expect(gate).not.to.have.any.keys(PROTECT_ENV);

      expect(JSON.parse(protect.THEMIS_TARGETS as string)).to.deep.equal([
        { asgName: 'workers-a' },
        { asgName: 'workers_b' },
      ]);
      expect(protect).to.include({
        THEMIS_TAG_DISCOVERY: 'false',
        THEMIS_SCANS_PER_INVOCATION: '3',
        THEMIS_PROBE_CONCURRENCY: '8',
        POWERTOOLS_SERVICE_NAME: 'themis-protect',
      });
      expect(refersTo(gate.THEMIS_RECHECK_QUEUE_URL)).to.equal('RecheckQueue');
      // protect's released notices that SNS refused wait on the same queue for the gate.
      expect(refersTo(protect.THEMIS_RECHECK_QUEUE_URL)).to.equal('RecheckQueue');
      expect(refersTo(gate.THEMIS_TOPIC_ARN)).to.equal('OutcomeTopic');
      // protect publishes "released retained" notices on the same topic.
      expect(refersTo(protect.THEMIS_TOPIC_ARN)).to.equal('OutcomeTopic');
      expect(gate).to.include({
        THEMIS_RECHECK_SECONDS: '45',
        THEMIS_MAX_WAIT_SECONDS: '7200',
        THEMIS_UNKNOWN_LIMIT: '4',
        THEMIS_ON_DEADLINE: 'ABANDON',
        THEMIS_SSM_DOCUMENT: 'themis-drain',
        THEMIS_SSM_PARAMETERS: '{"commands":["systemctl stop worker"]}',
        THEMIS_SSM_TIMEOUT_SECONDS: '300',
        THEMIS_ON_SSM_FAILURE: 'ABANDON',
        POWERTOOLS_SERVICE_NAME: 'themis-gate',
      });
      for (const e of [protect, gate]) {
        expect(e).to.include({
          THEMIS_METRICS_PORT: '9100',
          THEMIS_DRY_RUN: 'true',
          POWERTOOLS_METRICS_NAMESPACE: 'themis',
        });
      }
    });

    it('runs protect every minute and does not retry a failed scan', () => {
      const rules = eventRules(t, 'ProtectLambdaFunction');
      expect(rules).to.have.length(1);
      expect(props(rules[0]![1]).ScheduleExpression).to.equal('rate(1 minute)');
      const invokeConfig = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(
        ([, r]) => refersTo(props(r).FunctionName) === 'ProtectLambdaFunction',
      );
      expect(props(invokeConfig![1]).MaximumRetryAttempts).to.equal(0);
    });

    it('sends the lifecycle actions of the listed groups and of themis’s hook to the gate', () => {
      const [ruleId, rule] = lifecycleRule(t);
      const p = props(rule);
      expect(p.EventPattern).to.deep.equal({
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
        detail: { LifecycleHookName: ['themis'], AutoScalingGroupName: FULL_GROUPS },
      });
      const targets = p.Targets as Record<string, unknown>[];
      expect(targets).to.have.length(1);
      const target = targets[0]!;
      expect(refersTo(target.Arn)).to.equal('GateLambdaFunction');
      expect(target.RetryPolicy).to.have.keys('MaximumEventAgeInSeconds', 'MaximumRetryAttempts');
      expect(refersTo((target.DeadLetterConfig as { Arn: unknown }).Arn)).to.equal(
        'EventsDeadLetterQueue',
      );
      // EventBridge may invoke the gate, from this rule only.
      const permission = resourcesOfType(t, 'AWS::Lambda::Permission').find(
        ([, r]) =>
          props(r).Principal === 'events.amazonaws.com' &&
          refersTo(props(r).FunctionName) === 'GateLambdaFunction',
      );
      expect(permission, 'invoke permission').not.to.equal(undefined);
      expect(JSON.stringify(props(permission![1]).SourceArn)).to.include(
        props(rule).Name as string,
      );
      // Only that rule may drop events into the dead-letter queue.
      const [, policy] = resourcesOfType(t, 'AWS::SQS::QueuePolicy').find(([, r]) =>
        (props(r).Queues as unknown[]).some((q) => refersTo(q) === 'EventsDeadLetterQueue'),
      )!;
      const statements = (props(policy).PolicyDocument as { Statement: Statement[] }).Statement;
      expect(statements).to.have.length(1);
      const s = statements[0]! as Statement & { Principal: unknown };
      expect(s.Principal).to.deep.equal({ Service: 'events.amazonaws.com' });
      expect(s.Action).to.equal('sqs:SendMessage');
      // The rule's ARN, by the name the rule has (ruleId is osls's name for it).
      expect(ruleId).to.be.a('string');
      expect(s.Condition?.ArnEquals?.['aws:SourceArn']).to.deep.equal({
        'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${String(p.Name)}`,
      });
    });

    it('parks gate invocations that keep failing in the events dead-letter queue', () => {
      const [, config] = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(
        ([, r]) => refersTo(props(r).FunctionName) === 'GateLambdaFunction',
      )!;
      const destination = (
        props(config).DestinationConfig as { OnFailure: { Destination: unknown } }
      ).OnFailure.Destination;
      expect(refersTo(destination)).to.equal('EventsDeadLetterQueue');
    });

    it('feeds the recheck queue to the gate, reporting batch item failures', () => {
      const mappings = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping');
      expect(mappings).to.have.length(1);
      const p = props(mappings[0]![1]);
      expect(refersTo(p.EventSourceArn)).to.equal('RecheckQueue');
      expect(refersTo(p.FunctionName)).to.equal('GateLambdaFunction');
      expect(p.FunctionResponseTypes).to.deep.equal(['ReportBatchItemFailures']);
    });

    it('makes the recheck queue a standard queue that redrives to its own dead-letter queue', () => {
      const queue = props(resource(t, 'RecheckQueue'));
      expect(queue.FifoQueue).to.equal(undefined);
      const gateTimeout = props(resource(t, 'GateLambdaFunction')).Timeout as number;
      // AWS's guidance for an SQS event source.
      expect(queue.VisibilityTimeout as number).to.be.at.least(6 * gateTimeout);
      const redrive = queue.RedrivePolicy as {
        deadLetterTargetArn: unknown;
        maxReceiveCount: number;
      };
      expect(refersTo(redrive.deadLetterTargetArn)).to.equal('RecheckDeadLetterQueue');
      expect(redrive.maxReceiveCount).to.be.greaterThan(1);
      expect(resource(t, 'RecheckDeadLetterQueue').Type).to.equal('AWS::SQS::Queue');
      expect(resource(t, 'EventsDeadLetterQueue').Type).to.equal('AWS::SQS::Queue');
    });

    it('creates the outcome topic and subscribes the notify e-mail to it', () => {
      expect(resource(t, 'OutcomeTopic').Type).to.equal('AWS::SNS::Topic');
      const subscriptions = resourcesOfType(effectiveStack(t), 'AWS::SNS::Subscription');
      expect(subscriptions).to.have.length(1);
      const p = props(subscriptions[0]![1]);
      expect(p).to.include({ Protocol: 'email', Endpoint: 'ops@example.com' });
      expect(refersTo(p.TopicArn)).to.equal('OutcomeTopic');
    });

    it('installs a terminating lifecycle hook on each listed group, after the gate exists', () => {
      const hooks = resourcesOfType(t, 'AWS::AutoScaling::LifecycleHook');
      expect(hooks.map(([, r]) => props(r).AutoScalingGroupName).sort()).to.deep.equal(FULL_GROUPS);
      const [ruleId] = lifecycleRule(t);
      for (const [id, hook] of hooks) {
        expect(props(hook), id).to.deep.equal({
          AutoScalingGroupName: props(hook).AutoScalingGroupName,
          LifecycleHookName: 'themis',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 3600,
          DefaultResult: 'ABANDON',
        });
        expect(dependsOn(hook), id).to.include.members(['GateLambdaFunction', ruleId]);
      }
    });

    it('gives the gate the heartbeat margin of the template’s own numbers, which each hook outlasts', () => {
      const [, mapping] = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping')[0]!;
      const timing = timingOf(
        {
          visibilityTimeoutSeconds: props(resource(t, 'RecheckQueue')).VisibilityTimeout as number,
          functionTimeoutSeconds: props(resource(t, 'GateLambdaFunction')).Timeout as number,
          batchSize: props(mapping).BatchSize as number,
        },
        Number(FULL_PARAMS.recheckSeconds),
      );
      const margin = heartbeatMarginSeconds(timing);
      expect(env(t, 'GateLambdaFunction').THEMIS_HEARTBEAT_MARGIN_SECONDS).to.equal(String(margin));
      expect(requiredFunctionTimeoutSeconds(timing).seconds).to.be.at.most(
        timing.functionTimeoutSeconds,
      );
      const hooks = resourcesOfType(t, 'AWS::AutoScaling::LifecycleHook');
      expect(hooks).to.have.length(FULL_GROUPS.length);
      for (const [id, hook] of hooks) {
        expect(props(hook).HeartbeatTimeout as number, id).to.be.greaterThan(margin);
      }
    });

    it('alarms on errors of both functions, failed protect scans and messages in both dead-letter queues', () => {
      const alarms = resourcesOfType(t, 'AWS::CloudWatch::Alarm').map(([, r]) => props(r));
      const watched = (metric: string, dimension: string) =>
        alarms
          .filter((a) => a.MetricName === metric)
          .map(
            (a) =>
              (a.Dimensions as { Name: string; Value: unknown }[]).find((d) => d.Name === dimension)
                ?.Value,
          )
          .map(refersTo)
          .sort();
      expect(watched('Errors', 'FunctionName')).to.deep.equal([
        'GateLambdaFunction',
        'ProtectLambdaFunction',
      ]);
      expect(watched('ApproximateNumberOfMessagesVisible', 'QueueName')).to.deep.equal([
        'EventsDeadLetterQueue',
        'RecheckDeadLetterQueue',
      ]);
      // Retained instances that never answer: kept, so the stack alarms instead — 25 of the
      // last 30 minutes, so a missed scan (a missing point, notBreaching) does not restart it.
      const unanswered = alarms.filter((a) => a.MetricName === 'RetainedUnanswered');
      expect(unanswered, 'retained-unanswered alarm').to.have.length(1);
      expect(unanswered[0]).to.include({
        Namespace: 'themis',
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 30,
        DatapointsToAlarm: 25,
        TreatMissingData: 'notBreaching',
      });
      expect(unanswered[0]!.Dimensions).to.deep.equal([
        { Name: 'service', Value: 'themis-protect' },
      ]);
      const scanFailed = alarms.filter((a) => a.MetricName === 'ScanFailed');
      expect(scanFailed, 'fleet-wide protect scan alarm').to.have.length(1);
      expect(scanFailed[0]).to.include({ Namespace: 'themis' });
      expect(scanFailed[0]!.Dimensions).to.deep.equal([
        { Name: 'service', Value: 'themis-protect' },
      ]);
      for (const alarm of alarms) {
        expect((alarm.AlarmActions as unknown[]).map(refersTo)).to.deep.equal(['OutcomeTopic']);
        expect(alarm.Threshold).to.equal(1);
      }
    });

    it('grants allow-listed actions only, never a wildcard, and only reads on "*"', () => {
      checkLeastPrivilege(t);
    });

    it('lets protect set protection on, and terminate retained instances of, the listed groups, and do nothing of the gate’s', () => {
      expect(grantedActions(t, 'ProtectRole')).to.deep.equal(
        [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:SetInstanceProtection',
          'autoscaling:TerminateInstanceInAutoScalingGroup',
          'ec2:DescribeInstances',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'sns:Publish',
          'sqs:SendMessage',
          ...VPC_ATTACHMENT,
        ].sort(),
      );
      for (const action of [
        'autoscaling:SetInstanceProtection',
        'autoscaling:TerminateInstanceInAutoScalingGroup',
      ]) {
        const statements = granting(t, 'ProtectRole', action);
        expect(statements, action).to.have.length(1);
        expect(statements[0]!.Condition, action).to.equal(undefined);
        expect(resourcesOf(statements[0]!).map(arnText), action).to.deep.equal(
          FULL_GROUPS.map(groupArn),
        );
      }
    });

    it('lets the gate heartbeat and complete on the listed groups, never set protection', () => {
      const actions = grantedActions(t, 'GateRole');
      expect(actions).not.to.include('autoscaling:SetInstanceProtection');
      for (const action of [
        'autoscaling:RecordLifecycleActionHeartbeat',
        'autoscaling:CompleteLifecycleAction',
      ]) {
        const statements = granting(t, 'GateRole', action);
        expect(statements, action).to.have.length(1);
        expect(resourcesOf(statements[0]!).map(arnText), action).to.deep.equal(
          FULL_GROUPS.map(groupArn),
        );
      }
    });

    it('lets the gate publish to its topic and use its own queues only', () => {
      const publish = granting(t, 'GateRole', 'sns:Publish');
      expect(publish.flatMap(resourcesOf).map(refersTo)).to.deep.equal(['OutcomeTopic']);
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
        expect(
          granting(t, 'GateRole', action).flatMap(resourcesOf).map(refersTo),
          action,
        ).to.deep.equal(['RecheckQueue']);
      }
      expect(
        granting(t, 'GateRole', 'sqs:SendMessage').flatMap(resourcesOf).map(refersTo).sort(),
      ).to.deep.equal(['EventsDeadLetterQueue', 'RecheckQueue']);
    });

    it('lets the gate run only the configured document, only on the listed groups’ instances', () => {
      const send = granting(t, 'GateRole', 'ssm:SendCommand');
      const documents = send.filter((s) =>
        resourcesOf(s).some((r) => arnText(r)?.includes(':document/')),
      );
      const instances = send.filter((s) =>
        resourcesOf(s).some((r) => arnText(r)?.includes(':instance/')),
      );
      expect(documents.flatMap(resourcesOf).map(arnText)).to.deep.equal([
        'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/themis-drain',
      ]);
      expect(instances).to.have.length(1);
      expect(instances[0]!.Condition).to.deep.equal({
        StringEquals: { 'ssm:resourceTag/aws:autoscaling:groupName': FULL_GROUPS },
      });
      expect(send).to.have.length(2);
      expect(
        granting(t, 'GateRole', 'ssm:DescribeDocument').flatMap(resourcesOf).map(arnText),
      ).to.deep.equal([
        'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/themis-drain',
      ]);
    });

    it('passes cfn-lint with no errors and no unexplained warnings', async () => {
      const findings = await cfnLint(stack.templatePath);
      expect(unexpectedLintFindings(findings)).to.deep.equal([]);
    });

    it('ships a gate bundle that, imported from its zip, answers a lifecycle event and an SQS batch', async () => {
      await exerciseGateBundle(stack);
    });
  });

  describe('with the minimum: tag discovery, no groups, no e-mail, no VPC', () => {
    let stack: PackagedStack;
    let t: Template;
    before(async () => {
      stack = await minimumStack;
      t = stack.template;
    });
    after(async () => {
      await stack?.cleanup();
    });

    it('subscribes no e-mail address and installs no lifecycle hook', () => {
      // Declared with a Condition that is false without an address: CloudFormation skips it.
      expect(resourcesOfType(effectiveStack(t), 'AWS::SNS::Subscription')).to.deep.equal([]);
      expect(resourcesOfType(t, 'AWS::AutoScaling::LifecycleHook')).to.deep.equal([]);
      expect(resource(t, 'OutcomeTopic').Type).to.equal('AWS::SNS::Topic');
    });

    it('filters lifecycle events by themis’s hook only, since tagged groups are not known yet', () => {
      const [, rule] = lifecycleRule(t);
      expect((props(rule).EventPattern as { detail: unknown }).detail).to.deep.equal({
        LifecycleHookName: ['themis'],
      });
    });

    it('allows mutations only on groups tagged themis:enabled=true', () => {
      const pairs = [
        ['ProtectRole', 'autoscaling:SetInstanceProtection'],
        ['ProtectRole', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
        ['GateRole', 'autoscaling:RecordLifecycleActionHeartbeat'],
        ['GateRole', 'autoscaling:CompleteLifecycleAction'],
      ] as const;
      for (const [role, action] of pairs) {
        const statements = granting(t, role, action);
        expect(statements, action).to.have.length(1);
        expect(statements[0]!.Condition, action).to.deep.equal({
          StringEquals: { 'autoscaling:ResourceTag/themis:enabled': 'true' },
        });
        expect(resourcesOf(statements[0]!).map(arnText), action).to.deep.equal([groupArn('*')]);
      }
    });

    it('runs outside any VPC, is granted no network-interface actions, and may only follow SSM commands', () => {
      for (const id of ['ProtectLambdaFunction', 'GateLambdaFunction']) {
        expect(props(resource(t, id)).VpcConfig, id).to.equal(undefined);
      }
      const all = [...grantedActions(t, 'ProtectRole'), ...grantedActions(t, 'GateRole')];
      for (const action of VPC_ATTACHMENT) expect(all).not.to.include(action);
      // No document: nothing may be sent, but a command sent while one was configured is
      // still followed and cancelled.
      expect(all.filter((a) => a.startsWith('ssm:')).sort()).to.deep.equal([
        'ssm:CancelCommand',
        'ssm:GetCommandInvocation',
      ]);
      expect(env(t, 'ProtectLambdaFunction')).to.include({
        THEMIS_TARGETS: '[]',
        THEMIS_TAG_DISCOVERY: 'true',
      });
    });

    it('grants allow-listed actions only, never a wildcard, and only reads on "*"', () => {
      checkLeastPrivilege(t);
    });

    it('passes cfn-lint with no errors and no unexplained warnings', async () => {
      const findings = await cfnLint(stack.templatePath);
      expect(unexpectedLintFindings(findings)).to.deep.equal([]);
    });

    it('ships a protect bundle that, imported from its zip, protects a tagged group’s busy instance and frees its idle one', async () => {
      await exerciseProtectBundle(stack);
    });
  });

  it('stops before packaging when the hook cannot outlast the heartbeat margin, naming the numbers', async () => {
    const failure = await refusals.heartbeat;
    expect(failure).to.be.instanceOf(PackageError);
    const margin = heartbeatMarginSeconds(timingOf(STACK, 30));
    expect((failure as PackageError).output)
      .to.include('param "heartbeatTimeout"')
      .and.include(`= ${margin} s), not 271`);
  });

  it('stops before packaging a serverless.yml whose recheck queue hides a record for less than a step', async () => {
    const failure = await refusals.visibility;
    expect(failure).to.be.instanceOf(PackageError);
    expect((failure as PackageError).output).to.include(
      `VisibilityTimeout (60 s) must be at least 6 × the gate function's timeout (6 × ${STACK.functionTimeoutSeconds}`,
    );
  });

  it('stops before packaging when a param is wrong, naming it', async () => {
    const failure = await refusals.param;
    expect(failure).to.be.instanceOf(PackageError);
    expect((failure as PackageError).output).to.include('param "recheckSeconds"');
  });
});
