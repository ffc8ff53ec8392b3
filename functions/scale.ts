/**
 * The scale Lambda (opt-in, every minute): sizes the ECS clusters of clusters.yml and their
 * services. Everything is built once per container; the logic is in lib/scale.
 */
import { createLogger } from '../lib/log.js';
import { createScalePorts } from '../lib/scale/aws-ports.js';
import { parseScaleConfig } from '../lib/scale/config.js';
import { createScaleHandler } from '../lib/scale/handler.js';

// A bad clusters.yml fails the cold start with a ConfigError naming the key or variable.
const config = parseScaleConfig(process.env);

export const handler = createScaleHandler({
  config,
  ...createScalePorts(),
  log: createLogger('themis-scale'),
});
