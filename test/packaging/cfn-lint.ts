/**
 * cfn-lint (preinstalled here; `pip install cfn-lint` elsewhere) on a generated template.
 * A missing cfn-lint is an error with the install line, never a silently skipped check.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CfnLintFinding {
  rule: string;
  level: 'Error' | 'Warning' | 'Informational';
  message: string;
  path: string;
}

export async function cfnLint(
  templatePath: string,
  region = 'us-east-1',
): Promise<CfnLintFinding[]> {
  let stdout: string;
  try {
    ({ stdout } = await run(
      'cfn-lint',
      ['--format', 'json', '--regions', region, '--', templatePath],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    ));
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; message: string };
    if (e.code === 'ENOENT') {
      throw new Error('cfn-lint is not installed: pip install cfn-lint', { cause: err });
    }
    // cfn-lint exits non-zero when it has findings; the JSON on stdout still lists them.
    if (typeof e.stdout !== 'string' || !e.stdout.trim().startsWith('[')) throw err;
    stdout = e.stdout;
  }
  const raw = JSON.parse(stdout) as {
    Rule: { Id: string };
    Level: CfnLintFinding['level'];
    Message: string;
    Location: { Path?: (string | number)[] };
  }[];
  return raw.map((f) => ({
    rule: f.Rule.Id,
    level: f.Level,
    message: f.Message,
    path: (f.Location.Path ?? []).join('/'),
  }));
}
