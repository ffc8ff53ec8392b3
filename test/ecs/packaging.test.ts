/**
 * Deploying the ECS parts: the scale function and its schedule exist only when a clusters
 * file is given; its role may change only the named clusters and groups; protect and the gate
 * may read (the gate also drain) only named clusters. One `serverless package` with a
 * clusters.yml, its zip run as Lambda would (against moto), and the stack helper without one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { cfnLint } from '../packaging/cfn-lint.js';
import { actionsOf, arnText, roleStatements, type Statement } from '../packaging/iam.js';
import { packageStack, props, resource, type PackagedStack } from '../packaging/package-stack.js';
import { invokeBundle, unzipArtefact } from '../packaging/run-bundle.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { JOBS_CLUSTER_YML } from '../helpers/clusters-yml.js';
import { readClustersFile } from '../../deploy/ecs.js';
import { parseDeployParams } from '../../deploy/params.js';
import { resolveStack } from '../../deploy/stack.js';
import { PROJECT_ROOT } from '../packaging/package-stack.js';

// resolveStack is what deploy/stack.cjs hands osls; imported, not require()d through stack.cjs,
// which would load lib/ a second time (tsx's CommonJS hooks) under every later test file.
const stack = resolveStack as unknown as (helpers: {
  resolveVariable: (name: string) => Promise<unknown>;
  resolveConfigurationProperty: (path: string[]) => Promise<unknown>;
}) => Promise<{ scaleFunction: unknown; resources: { Resources: Record<string, unknown> } }>;

const CLUSTERS_YML = `${JOBS_CLUSTER_YML}  paused:
    enabled: false
    autoscale_group: paused-asg
    cpu_buffer: 0
    mem_buffer: 0
`;

/** serverless.yml as osls reads it before variables: params.default and the numbers the deploy asks for. */
const SERVERLESS_YML = YAML.parse(readFileSync('serverless.yml', 'utf8'), {
  logLevel: 'silent',
}) as {
  params: { default: Record<string, string> };
  custom: { gate: { timeoutSeconds: number; visibilityTimeoutSeconds: number; batchSize: number } };
};

/** The deploy's params over serverless.yml's defaults, parsed with its one schema. */
function parseParams(raw: Record<string, string>) {
  const { gate } = SERVERLESS_YML.custom;
  return parseDeployParams(
    { ...SERVERLESS_YML.params.default, ...raw },
    {
      functionTimeoutSeconds: gate.timeoutSeconds,
      visibilityTimeoutSeconds: gate.visibilityTimeoutSeconds,
      batchSize: gate.batchSize,
    },
  );
}

function statementsWith(statements: Statement[], prefix: string): Statement[] {
  return statements.filter((s) => actionsOf(s).some((a) => a.startsWith(prefix)));
}

describe('deploying ECS mode and the scale function @slow', function () {
  this.timeout(300_000);
  let packaged: PackagedStack;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'themis-clusters-'));
    writeFileSync(join(dir, 'clusters.yml'), CLUSTERS_YML);
    packaged = await packageStack({
      stage: 'ci',
      params: { groups: 'jobs-asg', ecsClusters: 'tagged-cluster' },
      overlay: { 'clusters.yml': join(dir, 'clusters.yml') },
    });
  });
  after(async () => {
    await packaged?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds the scale function on a one-minute schedule, with clusters.yml in its zip', async () => {
    const fn = props(resource(packaged.template, 'ScaleLambdaFunction'));
    const env = (fn.Environment as { Variables: Record<string, string> }).Variables;
    expect(env.THEMIS_CLUSTERS_FILE).to.equal('clusters.yml');
    // One run at a time, so two runs never act on the same picture.
    expect(fn.ReservedConcurrentExecutions).to.equal(1);
    expect(
      props(resource(packaged.template, 'ScaleEventsRuleSchedule1')).ScheduleExpression,
    ).to.equal('rate(1 minute)');
    expect(Object.keys(packaged.zips).sort()).to.deep.equal(['gate', 'protect', 'scale']);
  });

  it('lets the scale role change only the named clusters and groups', () => {
    const statements = roleStatements(packaged.template, 'ScaleRole');
    const groupChanges = statements.filter((s) =>
      actionsOf(s).includes('autoscaling:TerminateInstanceInAutoScalingGroup'),
    );
    expect(groupChanges).to.have.length(1);
    const groupArns = ([] as unknown[]).concat(groupChanges[0]!.Resource).map(arnText);
    expect(groupArns).to.have.length(1);
    expect(groupArns[0]).to.match(/autoScalingGroupName\/jobs-asg$/);

    for (const s of statementsWith(statements, 'ecs:')) {
      if (
        actionsOf(s).every(
          (a) => a === 'ecs:DescribeTaskDefinition' || a.startsWith('autoscaling:Describe'),
        )
      )
        continue;
      const scoped = s.Condition ? JSON.stringify(s.Condition) : JSON.stringify(s.Resource);
      // Only the enabled cluster: not the disabled one, never any cluster.
      expect(scoped, JSON.stringify(s)).to.match(/cluster\/jobs"/);
      expect(scoped).to.not.match(/paused|cluster\/\*/);
    }
    const sqs = statementsWith(statements, 'sqs:');
    expect(sqs.map((s) => actionsOf(s))).to.deep.equal([['sqs:GetQueueAttributes']]);
    expect(JSON.stringify(sqs[0]!.Resource)).to.include(':sqs:us-east-1:123456789012:jobs');
  });

  it('lets protect read and the gate drain only the named clusters', () => {
    const protect = statementsWith(roleStatements(packaged.template, 'ProtectRole'), 'ecs:');
    const gate = statementsWith(roleStatements(packaged.template, 'GateRole'), 'ecs:');

    expect(protect.flatMap(actionsOf)).to.not.include('ecs:UpdateContainerInstancesState');
    expect(gate.flatMap(actionsOf)).to.include('ecs:UpdateContainerInstancesState');
    for (const s of [...protect, ...gate]) {
      const scoped = JSON.stringify(s.Condition ?? s.Resource);
      expect(scoped).to.match(/cluster\/tagged-cluster"/);
      expect(scoped).to.match(/cluster\/jobs"/);
    }
  });

  it('passes cfn-lint', async () => {
    const findings = await cfnLint(packaged.templatePath);
    expect(findings.filter((f) => f.level === 'Error')).to.deep.equal([]);
  });

  it('runs from its zip: reads the packaged clusters.yml and reports, against moto', async () => {
    let moto: Moto | undefined;
    const taskDir = await unzipArtefact(packaged.zips.scale!);
    try {
      moto = await startMoto();
      const fn = props(resource(packaged.template, 'ScaleLambdaFunction'));
      const env = (fn.Environment as { Variables: Record<string, string> }).Variables;
      const run = await invokeBundle({
        taskDir,
        handler: 'functions/scale.handler',
        functionName: 'themis-ci-scale',
        event: { dryRun: true },
        env: {
          ...env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
          AWS_ENDPOINT_URL: moto.endpoint,
          POWERTOOLS_LOG_LEVEL: 'SILENT',
        },
      });

      expect(run.error).to.equal(undefined);
      const result = run.result as { clusters: Array<{ cluster: string; outcome: string }> };
      // jobs-asg does not exist in this moto; the disabled cluster is reported as such.
      expect(result.clusters.map((c) => [c.cluster, c.outcome])).to.deep.equal([
        ['jobs', 'not-found'],
        ['paused', 'disabled'],
      ]);
    } finally {
      rmSync(taskDir, { recursive: true, force: true });
      await moto?.stop();
    }
  });
});

describe('deploy/ecs.ts', () => {
  const resolveWith = (params: Record<string, string>) => ({
    resolveVariable: async (name: string) =>
      name === 'sls:stage' ? 'ci' : params[name.slice('param:'.length)],
    resolveConfigurationProperty: async (path: string[]) =>
      path.reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], SERVERLESS_YML),
  });

  it('adds no scale function and no ECS permission without a clusters file or ecsClusters', async () => {
    const out = await stack(resolveWith(SERVERLESS_YML.params.default));

    expect(out.scaleFunction).to.equal(null);
    expect(out.resources.Resources).to.not.have.property('ScaleRole');
    expect(JSON.stringify(out.resources.Resources)).to.not.include('"ecs:');
  });

  it('refuses a clusters file outside the project, or missing, by param name', () => {
    expect(() => readClustersFile('../clusters.yml', PROJECT_ROOT)).to.throw(
      /param "clustersFile": .* inside the project/,
    );
    expect(() => readClustersFile('nope.yml', PROJECT_ROOT)).to.throw(
      /param "clustersFile": nope.yml does not exist/,
    );
  });

  it('refuses a %(NAME) where IAM needs a literal name', () => {
    const d = mkdtempSync(join(tmpdir(), 'themis-ecs-deploy-'));
    try {
      writeFileSync(join(d, 'c.yml'), 'clusters:\n  jobs:\n    autoscale_group: "%(GROUP)"\n');
      expect(() => readClustersFile('c.yml', d)).to.throw(
        /autoscale_group must be a literal group name/,
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('refuses a bad ecsClusters entry by name', () => {
    expect(() => parseParams({ ecsClusters: 'ok,not ok' })).to.throw(
      /param "ecsClusters": "not ok"/,
    );
  });
});
