/**
 * The `themis` command (see docs/cli.md). Shipped as JavaScript: scripts/build-cli.ts bundles
 * this file into dist/themis.js, the package's `bin`. From a checkout: npx tsx bin/themis.ts.
 */
import { COMMANDS } from '../lib/cli/commands/index.js';
import { defaultCliContext, runCli } from '../lib/cli/program.js';
import { sandboxCommand } from '../lib/cli/commands/sandbox.js';
import { dropSdkNodeVersionNotice } from '../lib/sdk-node-notice.js';

dropSdkNodeVersionNotice();

const ctx = defaultCliContext();
try {
  process.exitCode = await runCli(process.argv, ctx, [...COMMANDS, sandboxCommand]);
} finally {
  ctx.close();
}
