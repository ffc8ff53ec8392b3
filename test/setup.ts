import { dropSdkNodeVersionNotice } from '../lib/sdk-node-notice.js';
import { shareMotoServers, stopSharedMotoServers } from './helpers/moto-server.js';

// Loaded by mocha before any test (see .mocharc.json).
// The loopback rule: every probe a test makes must go to 127.0.0.0/8. The composition roots
// (functions/*.ts, the CLI, the sandbox) read this at start and build a probe engine that
// refuses any other address, so a mistake fails fast instead of touching a real network.
process.env.THEMIS_LOOPBACK_ONLY = '1';
// No credentials exist here; SDK clients built in tests must never look for real ones.
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
process.env.AWS_REGION ??= 'us-east-1';
process.env.POWERTOOLS_DEV ??= 'false';
// Keep test output readable: the functions log JSON lines, tests capture what they need.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

dropSdkNodeVersionNotice();

// One moto_server serves file after file, reset in between (test/helpers/moto-server.ts): each
// cold start costs seconds. Stopped once the run is over: by mocha's root hook when one process
// runs every file; in a worker of `--parallel` (root hooks run once per file there) when the
// worker exits.
shareMotoServers();
export const mochaHooks =
  process.env.MOCHA_WORKER_ID === undefined
    ? {
        async afterAll() {
          await stopSharedMotoServers();
        },
      }
    : {};
