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

/**
 * cfn-lint warnings the stack has on purpose, each with the reason; anything else it reports
 * is unexpected.
 * - W3005: osls itself adds `DependsOn: <role>` to each function whose Role is already a
 *   GetAtt of that role — redundant, harmless, and not ours to change.
 * - W8003 on Conditions/NotifyByEmail: the condition compares the notifyEmail param, which
 *   osls writes into the template, with ''; that it is decided before CloudFormation runs is
 *   the point (the subscription exists only when an address is given).
 */
const ACCEPTED_WARNINGS: { rule: string; path?: string }[] = [
  { rule: 'W3005' },
  { rule: 'W8003', path: 'Conditions/NotifyByEmail/' },
];

export function unexpectedLintFindings(findings: CfnLintFinding[]): CfnLintFinding[] {
  return findings.filter(
    (f) =>
      f.level === 'Error' ||
      !ACCEPTED_WARNINGS.some(
        (a) => a.rule === f.rule && (a.path === undefined || f.path.startsWith(a.path)),
      ),
  );
}
