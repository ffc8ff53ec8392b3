/** The `themis` command (see docs/cli.md). bin/themis.js loads this through tsx. */
import { defaultCliContext, runCli } from '../lib/cli/program.js';

const ctx = defaultCliContext();
try {
  process.exitCode = await runCli(process.argv, ctx);
} finally {
  ctx.close();
}
