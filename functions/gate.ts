/**
 * The gate Lambda: lifecycle-hook events (EventBridge) and its own rechecks (SQS). Everything
 * is built once per container; the logic is in lib/gate.
 */
import { createAwsClients } from '../lib/aws/clients.js';
import { createGatePorts } from '../lib/gate/aws-ports.js';
import { parseGateEnv } from '../lib/gate/config.js';
import { createGateHandler } from '../lib/gate/handler.js';
import { createLogger } from '../lib/log.js';
import { createHttpProber } from '../lib/probe.js';

// A bad setting fails the cold start with a ConfigError naming the variable.
const config = parseGateEnv(process.env);

export const handler = createGateHandler({
  config,
  ...createGatePorts(config, createAwsClients()),
  prober: createHttpProber({ loopbackOnly: process.env.THEMIS_LOOPBACK_ONLY === '1' }),
  log: createLogger('themis-gate'),
  clock: Date.now,
  random: Math.random,
});
