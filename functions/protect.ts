/**
 * The protect Lambda: scheduled scans that set scale-in protection on busy instances and
 * remove it from idle ones. Everything is built once per container; the logic is in
 * lib/protect/handler.ts.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createLogger, serviceName } from '../lib/log.js';
import { createHttpProber } from '../lib/probe.js';
import { createRegionalPorts, rechecksOnDemand, snsOnDemand } from '../lib/protect/aws-ports.js';
import { parseProtectConfig } from '../lib/protect/config.js';
import { createProtectHandler } from '../lib/protect/handler.js';
import { createScanMetrics, DEFAULT_METRICS_NAMESPACE } from '../lib/protect/metrics.js';

// A bad setting fails the cold start with a ConfigError naming the variable.
const config = parseProtectConfig(process.env);

export const handler = createProtectHandler({
  config,
  // Clients for a region are built on first use and cached by the handler.
  portsFor: createRegionalPorts,
  prober: createHttpProber({ loopbackOnly: process.env.THEMIS_LOOPBACK_ONLY === '1' }),
  log: createLogger('themis-protect'),
  // "Released retained" notices, on the gate's outcome topic (lib/protect/retained.ts).
  ...(config.topicArn ? { notifications: snsOnDemand(config.topicArn) } : {}),
  // A released notice SNS refused waits on the gate's recheck queue for the gate's retry.
  ...(config.recheckQueueUrl ? { rechecks: rechecksOnDemand(config.recheckQueueUrl) } : {}),
  metrics: createScanMetrics(
    new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
      // The backlog policies and the scan alarm name this service (serverless.yml).
      serviceName: serviceName('themis-protect'),
    }),
    // Sub-minute scans: per-group metrics at high resolution (10-second policies and alarms).
    { highResolution: config.scansPerInvocation > 1 },
  ),
});
