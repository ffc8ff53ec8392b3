/**
 * The parts of the stack that serverless.yml cannot declare, because their shape depends on
 * the params: the groups as lists (protect's targets, the event pattern), a lifecycle hook
 * per group, the VPC or none, the least-privilege roles, the scale function when a clusters
 * file is given, and a backlog scaling policy per group. Everything else — the queues, the
 * topic, its optional e-mail subscription (a Condition), the alarms — is declared there.
 *
 * serverless.yml reads it as `${file(./deploy/stack.cjs):<key>}`: osls calls the function
 * once per reference with `resolveVariable` and `resolveConfigurationProperty`, so every key
 * is built from the same params, parsed with one schema (deploy/params.ts). A bad param is an
 * error that names it (`param "recheckSeconds": …`), raised before anything reaches AWS.
 */
import { join } from 'node:path';
import {
  LAUNCH_DETAIL_TYPE,
  LAUNCHING,
  TERMINATE_DETAIL_TYPE,
  TERMINATING,
} from '../lib/aws/facts.js';
import { backlogResources } from './backlog.js';
import {
  gateEcsStatements,
  ecsParts,
  protectEcsStatements,
  scaleFunction,
  scaleRole,
} from './ecs.js';
import {
  VPC_STATEMENT,
  gateStatements,
  inVpc,
  perGroupLogicalId,
  protectStatements,
  role,
} from './iam.js';
import { PARAM_NAMES, parseDeployParams, type CheckedParams, type StackNumbers } from './params.js';

/** What osls gives a `${file(…)}` function. */
export interface Resolvers {
  resolveVariable(address: string): Promise<unknown>;
  resolveConfigurationProperty(path: string[]): Promise<unknown>;
}

const SERVICE_DIR = join(import.meta.dirname, '..');

/** serverless.yml's `custom.gate`: the numbers the gate's timing is computed from, set once. */
const STACK_NUMBERS: Record<keyof StackNumbers, string[]> = {
  visibilityTimeoutSeconds: ['custom', 'gate', 'visibilityTimeoutSeconds'],
  functionTimeoutSeconds: ['custom', 'gate', 'timeoutSeconds'],
  batchSize: ['custom', 'gate', 'batchSize'],
};

/** Where serverless.yml names the metrics namespace and the protect function's service. */
const NAMESPACE_PATH = ['provider', 'environment', 'POWERTOOLS_METRICS_NAMESPACE'];
const SERVICE_PATH = ['functions', 'protect', 'environment', 'POWERTOOLS_SERVICE_NAME'];

/** Only themis's hook: another tool's hook on the same group is not ours to complete. */
function lifecycleEventPattern(p: CheckedParams) {
  const detail: Record<string, string[]> = {
    LifecycleHookName: p.launchHooks ? [p.hookName, p.launchHookName] : [p.hookName],
  };
  // Listed groups narrow it further, unless tag discovery may add groups the stack cannot name.
  if (p.groups.length && !p.tagDiscovery) detail.AutoScalingGroupName = p.groups;
  const detailType = p.launchHooks
    ? [TERMINATE_DETAIL_TYPE, LAUNCH_DETAIL_TYPE]
    : [TERMINATE_DETAIL_TYPE];
  return { source: ['aws.autoscaling'], 'detail-type': detailType, detail };
}

/**
 * A terminating hook per listed group. Created after, and deleted before, the function that
 * answers it: a hook without its gate would hold every terminating instance until the
 * heartbeat timeout. (The rule that routes its events is added to DependsOn by
 * deploy/lifecycle-rule-order.cjs, which finds it under the name serverless.yml gives it.)
 */
function lifecycleHooks(p: CheckedParams): Record<string, unknown> {
  return { ...terminateHooks(p), ...launchHooks(p) };
}

/**
 * With launchHooks: a launching hook per listed group, for the launch-readiness gate. Its
 * DefaultResult is CONTINUE: while themis cannot answer, launches go on unverified, as without
 * the gate; ABANDON would terminate every launch meanwhile — a replacement loop.
 */
function launchHooks(p: CheckedParams): Record<string, unknown> {
  if (!p.launchHooks) return {};
  return Object.fromEntries(
    p.groups.map((group) => [
      perGroupLogicalId('LaunchHook', group),
      {
        Type: 'AWS::AutoScaling::LifecycleHook',
        DependsOn: ['GateLambdaFunction'],
        Properties: {
          AutoScalingGroupName: group,
          LifecycleHookName: p.launchHookName,
          LifecycleTransition: LAUNCHING,
          HeartbeatTimeout: p.heartbeatTimeout,
          DefaultResult: 'CONTINUE',
        },
      },
    ]),
  );
}

function terminateHooks(p: CheckedParams): Record<string, unknown> {
  if (!p.installHooks) return {};
  return Object.fromEntries(
    p.groups.map((group) => [
      perGroupLogicalId('LifecycleHook', group),
      {
        Type: 'AWS::AutoScaling::LifecycleHook',
        DependsOn: ['GateLambdaFunction'],
        Properties: {
          AutoScalingGroupName: group,
          LifecycleHookName: p.hookName,
          LifecycleTransition: TERMINATING,
          HeartbeatTimeout: p.heartbeatTimeout,
          DefaultResult: p.hookDefaultResult,
        },
      },
    ]),
  );
}

async function stackNumbers(r: Resolvers): Promise<StackNumbers> {
  const out = {} as StackNumbers;
  for (const [name, path] of Object.entries(STACK_NUMBERS) as [keyof StackNumbers, string[]][]) {
    const value = Number(await r.resolveConfigurationProperty(path));
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`serverless.yml: ${path.join('.')} must be set to a whole number`);
    }
    out[name] = value;
  }
  return out;
}

/** The keys serverless.yml reads; `serviceDir` is the project (tests pass a temp copy). */
export async function resolveStack(r: Resolvers, serviceDir = SERVICE_DIR) {
  const raw: Record<string, unknown> = {};
  for (const name of PARAM_NAMES) raw[name] = await r.resolveVariable(`param:${name}`);
  const p = parseDeployParams(raw, await stackNumbers(r));
  const stage = String(await r.resolveVariable('sls:stage'));
  // Names built from the stage must fit AWS's limits: the rule name
  // (themis-<stage>-lifecycle-action) has 64 characters at most.
  if (!/^[A-Za-z0-9-]{1,40}$/.test(stage)) {
    throw new Error(`stage "${stage}": use at most 40 letters, digits and "-"`);
  }
  const ecs = ecsParts(p, serviceDir);
  const vpc = inVpc(p) ? VPC_STATEMENT : undefined;
  const namespace = String(await r.resolveConfigurationProperty(NAMESPACE_PATH));
  const service = String(await r.resolveConfigurationProperty(SERVICE_PATH));
  return {
    targets: JSON.stringify(p.groups.map((asgName) => ({ asgName }))),
    tagDiscovery: String(p.tagDiscovery),
    // null: the functions run outside any VPC (osls drops VpcConfig).
    vpc: vpc ? { subnetIds: p.subnetIds, securityGroupIds: p.securityGroupIds } : null,
    eventPattern: lifecycleEventPattern(p),
    heartbeatMarginSeconds: String(p.heartbeatMarginSeconds),
    // THEMIS_LAUNCH_HOOK_NAME: only themis's own launch hook is answered (lib/gate/launch.ts).
    launchHookName: p.launchHooks ? p.launchHookName : '',
    scaleFunction: scaleFunction(ecs),
    resources: {
      Resources: {
        ProtectRole: role([...protectStatements(p), ...protectEcsStatements(ecs)]),
        GateRole: role([...gateStatements(p), ...gateEcsStatements(ecs)]),
        ...lifecycleHooks(p),
        ...(ecs.file ? { ScaleRole: scaleRole(ecs.file, vpc) } : {}),
        ...backlogResources(p, namespace, service),
      },
    },
  };
}
