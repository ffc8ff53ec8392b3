/**
 * cfn-lint (preinstalled here; `pip install cfn-lint` elsewhere) on a generated template.
 * A missing cfn-lint is an error with the install line, never a silently skipped check.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CfnLintFinding {
  rule: string;
  level: 'Error' | 'Warning' | 'Informational';
  message: string;
  path: string;
}

/** Findings of templates linted by `cfnLintAll`, by content and region, for `cfnLint` to answer. */
const linted = new Map<string, Promise<CfnLintFinding[]>>();
const lintKey = (path: string, region: string) =>
  `${region} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

/** cfn-lint's findings for `templatePath` (from an earlier `cfnLintAll` of the same template, if any). */
export function cfnLint(templatePath: string, region = 'us-east-1'): Promise<CfnLintFinding[]> {
  const known = linted.get(lintKey(templatePath, region));
  if (known) return known;
  return cfnLintAll([templatePath], region).then((all) => all.get(templatePath)!);
}

/**
 * One cfn-lint run over several templates, each template's findings apart: cfn-lint spends
 * ~2 s of CPU starting and a fraction of that per template, so a test file with several
 * stacks lints them together. `cfnLint` of one of them later answers from this run.
 */
export function cfnLintAll(
  templatePaths: string[],
  region = 'us-east-1',
): Promise<Map<string, CfnLintFinding[]>> {
  const all = runCfnLint(templatePaths, region);
  for (const path of templatePaths) {
    const findings = all.then((m) => m.get(path)!);
    findings.catch(() => undefined);
    linted.set(lintKey(path, region), findings);
  }
  return all;
}

async function runCfnLint(
  templatePaths: string[],
  region: string,
): Promise<Map<string, CfnLintFinding[]>> {
  let stdout: string;
  try {
    ({ stdout } = await run(
      'cfn-lint',
      ['--format', 'json', '--regions', region, '--', ...templatePaths],
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
    Filename: string;
    Rule: { Id: string };
    Level: CfnLintFinding['level'];
    Message: string;
    Location: { Path?: (string | number)[] };
  }[];
  const byTemplate = new Map<string, CfnLintFinding[]>(templatePaths.map((p) => [p, []]));
  for (const f of raw) {
    const findings = byTemplate.get(f.Filename);
    if (!findings) throw new Error(`cfn-lint reported a template it was not given: ${f.Filename}`);
    findings.push({
      rule: f.Rule.Id,
      level: f.Level,
      message: f.Message,
      path: (f.Location.Path ?? []).join('/'),
    });
  }
  return byTemplate;
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
