'use strict';
/* global module */
/**
 * Scaling queue-driven worker groups on their backlog (docs/queues.md). From the params:
 *
 * - `backlogTargets` ("workers=20,render=3"): per group, an AWS::AutoScaling::ScalingPolicy
 *   that tracks themis's BacklogPerInstance metric for that group at the target given;
 * - `backlogQueueArns`: the work queues the protect function may read
 *   (sqs:GetQueueAttributes), as a policy on its role.
 *
 * Which queue belongs to which group is not deploy-time knowledge: the group's tag
 * themis:queue-url (or the `queueUrl` param, THEMIS_QUEUE_URL) says so at run time.
 *
 * Kept apart from deploy/stack.cjs (the roles, hooks and gate parts) so the two evolve
 * separately; serverless.yml reads it as `${file(./deploy/backlog.cjs):resources}`. A bad
 * param is an error that names it, raised while the template is built.
 */

const PARAM_NAMES = ['backlogTargets', 'backlogQueueArns', 'scansPerInvocation'];

/** What lib/protect/metrics.ts publishes (test/deploy-backlog.test.ts checks they agree). */
const METRIC_NAME = 'BacklogPerInstance';
const GROUP_DIMENSION = 'AutoScalingGroupName';
/** Powertools adds the service name as a dimension of every metric it publishes. */
const SERVICE_DIMENSION = 'service';

/**
 * Target tracking reads high-resolution metrics in 10-second periods (10, 30 and 60 are
 * accepted). Protect stores them at high resolution only when it scans more than once a
 * minute; with one scan a minute there is one point a minute, so the period is 60 s.
 */
const HIGH_RESOLUTION_PERIOD_SECONDS = 10;
const STANDARD_PERIOD_SECONDS = 60;

/** Where serverless.yml names the namespace and the protect function's service. */
const NAMESPACE_PATH = ['provider', 'environment', 'POWERTOOLS_METRICS_NAMESPACE'];
const SERVICE_PATH = ['functions', 'protect', 'environment', 'POWERTOOLS_SERVICE_NAME'];

function fail(name, detail) {
  throw new Error(`param "${name}": ${detail}`);
}

function list(name, value) {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((v) => v.trim()).filter((v) => v !== '');
}

function validGroupName(g) {
  const control = [...g].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  return g.length >= 1 && g.length <= 255 && !control && !/[*/=]/.test(g);
}

function parseParams(raw) {
  const targets = list('backlogTargets', raw.backlogTargets).map((entry) => {
    const at = entry.lastIndexOf('=');
    const group = at > 0 ? entry.slice(0, at).trim() : '';
    const value = at > 0 ? entry.slice(at + 1).trim() : '';
    if (!group || !validGroupName(group)) {
      fail('backlogTargets', `"${entry}" is not <group>=<messages per instance>`);
    }
    if (!/^\d+(\.\d+)?$/.test(value) || !(Number(value) > 0)) {
      fail('backlogTargets', `the target of ${group} must be a positive number, not "${value}"`);
    }
    return { group, target: Number(value) };
  });
  const groups = targets.map((t) => t.group);
  if (new Set(groups).size !== groups.length) fail('backlogTargets', 'names a group twice');

  const queueArns = list('backlogQueueArns', raw.backlogQueueArns);
  for (const arn of queueArns) {
    if (!/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(arn)) {
      fail('backlogQueueArns', `"${arn}" is not an SQS queue ARN`);
    }
  }
  if (new Set(queueArns).size !== queueArns.length) {
    fail('backlogQueueArns', 'lists the same queue twice');
  }
  // A policy on a metric nobody publishes never scales: protect could read no queue.
  if (targets.length && !queueArns.length) {
    fail('backlogQueueArns', 'must name the work queues when backlogTargets is set');
  }

  const scans = String(raw.scansPerInvocation ?? '1').trim();
  if (!/^\d+$/.test(scans)) fail('scansPerInvocation', `must be a whole number, not "${scans}"`);
  return { targets, queueArns, subMinute: Number(scans) > 1 };
}

/** CloudFormation logical ids are alphanumeric; a short hash keeps "web-a" and "web_a" apart. */
function policyLogicalId(group) {
  let h = 2166136261;
  for (const c of group) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `BacklogScaling${group.replace(/[^A-Za-z0-9]/g, '').slice(0, 64)}${h.toString(16).padStart(8, '0')}`;
}

function resources(p, namespace, service) {
  const out = {};
  if (p.queueArns.length) {
    out.ProtectReadWorkQueuesPolicy = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'themis-work-queues',
        Roles: [{ Ref: 'ProtectRole' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'ReadWorkQueueDepth',
              Effect: 'Allow',
              Action: ['sqs:GetQueueAttributes'],
              Resource: p.queueArns,
            },
          ],
        },
      },
    };
  }
  for (const { group, target } of p.targets) {
    out[policyLogicalId(group)] = {
      Type: 'AWS::AutoScaling::ScalingPolicy',
      Properties: {
        AutoScalingGroupName: group,
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingConfiguration: {
          TargetValue: target,
          CustomizedMetricSpecification: {
            Namespace: namespace,
            MetricName: METRIC_NAME,
            Dimensions: [
              { Name: SERVICE_DIMENSION, Value: service },
              { Name: GROUP_DIMENSION, Value: group },
            ],
            Statistic: 'Average',
            Period: p.subMinute ? HIGH_RESOLUTION_PERIOD_SECONDS : STANDARD_PERIOD_SECONDS,
          },
        },
      },
    };
  }
  return { Resources: out };
}

module.exports = async ({ resolveVariable, resolveConfigurationProperty }) => {
  const raw = {};
  for (const name of PARAM_NAMES) raw[name] = await resolveVariable(`param:${name}`);
  const p = parseParams(raw);
  const namespace = String(await resolveConfigurationProperty(NAMESPACE_PATH));
  const service = String(await resolveConfigurationProperty(SERVICE_PATH));
  return { resources: resources(p, namespace, service) };
};

// For the tests.
module.exports.parseParams = parseParams;
module.exports.resources = resources;
module.exports.METRIC_NAME = METRIC_NAME;
module.exports.GROUP_DIMENSION = GROUP_DIMENSION;
