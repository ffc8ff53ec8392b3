import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  documentedGlobalTimeoutSeconds,
  GLOBAL_TIMEOUT_CAP_SECONDS,
  GLOBAL_TIMEOUT_HEARTBEATS,
} from '../../lib/aws/facts.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FACTS = 'lib/aws/facts.ts';

/**
 * Literals that are AWS facts: written in lib/aws/facts.ts and imported everywhere else. A
 * second copy is how the simulator's visibility timeout once drifted from serverless.yml.
 */
const FACT_LITERALS: Array<[string, RegExp]> = [
  ['the terminate transition', /['"`]autoscaling:EC2_INSTANCE_TERMINATING['"`]/],
  ['the launch transition', /['"`]autoscaling:EC2_INSTANCE_LAUNCHING['"`]/],
  ['the test notification', /['"`]autoscaling:TEST_NOTIFICATION['"`]/],
  ['the terminate detail-type', /['"`]EC2 Instance-terminate Lifecycle Action['"`]/],
  ['the launch detail-type', /['"`]EC2 Instance-launch Lifecycle Action['"`]/],
  ['a warm pool lifecycle state', /['"`]Warmed:(Pending|Terminating):Wait['"`]/],
  ['the 48 h global timeout cap', /\b(172_?800|48 \* 3600|48 \* 60 \* 60)\b/],
  ['the retained state', /['"`]Terminating:Retained['"`]/],
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(root, dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(relative(root, path)));
    else if (/\.(ts|cjs|mjs|js)$/.test(name)) out.push(relative(root, path));
  }
  return out;
}

/** Lines of code, comments dropped (a comment may name a fact; only code may not copy it). */
function codeLines(text: string): string[] {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ''))
    .split('\n')
    .map((line) => line.replace(/(^|[^:])\/\/.*$/, '$1'));
}

/** Every literal copy of a fact outside lib/aws/facts.ts, as "file:line (fact)". */
export function factCopies(dirs: string[]): string[] {
  const found: string[] = [];
  for (const file of dirs.flatMap(sourceFiles)) {
    if (file === FACTS) continue;
    codeLines(readFileSync(join(root, file), 'utf8')).forEach((line, i) => {
      for (const [fact, pattern] of FACT_LITERALS) {
        if (pattern.test(line)) found.push(`${file}:${i + 1} (${fact})`);
      }
    });
  }
  return found;
}

/**
 * Deployment numbers the simulator must read from serverless.yml and the deploy's defaults
 * (sim/deployed.ts), never write: a literal here is how its visibility timeout once said 360 s
 * while serverless.yml said 120.
 */
const DEPLOYMENT_LITERALS: Array<[string, RegExp]> = [
  [
    'a queue or event source number',
    /\b(visibilityTimeout(Seconds)?|VisibilityTimeout|batchSize|maxReceiveCount|maximumRetryAttempts)\b\s*(:|=|\?\?)\s*\d/,
  ],
  [
    'a hook setting',
    /\b(heartbeatTimeout(Seconds)?|HeartbeatTimeout|DefaultResult|defaultResult)\b\s*(:|=|\?\?)\s*['"`\d]/,
  ],
  ['a function timeout', /\b(gateTimeoutSeconds|timeoutSeconds|timeoutMs)\b\s*(\?\?)\s*\d/],
];

/** Every literal deployment number in `dirs`, as "file:line (what)". */
export function deploymentCopies(dirs: string[]): string[] {
  const found: string[] = [];
  for (const file of dirs.flatMap(sourceFiles)) {
    codeLines(readFileSync(join(root, file), 'utf8')).forEach((line, i) => {
      for (const [what, pattern] of DEPLOYMENT_LITERALS) {
        if (pattern.test(line)) found.push(`${file}:${i + 1} (${what})`);
      }
    });
  }
  return found;
}

describe('aws/facts', () => {
  it('is the only place in lib/, functions/ and sim/ that writes an AWS name or ceiling', () => {
    expect(factCopies(['lib', 'functions', 'sim'])).to.deep.equal([]);
  });

  it('leaves every deployment number of the simulator to serverless.yml and the deploy', () => {
    expect(deploymentCopies(['sim'])).to.deep.equal([]);
  });

  it('finds a deployment number written into the simulator (the check itself can fail)', () => {
    const lines = [
      'visibilityTimeoutSeconds: 120,',
      "const hook = { heartbeatTimeoutSeconds: 1800, defaultResult: 'CONTINUE' };",
      'batchSize: o.batchSize ?? 10,',
      'timeoutMs: (o.gateTimeoutSeconds ?? 80) * 1000,',
      'visibilityTimeoutSeconds: o.visibilityTimeoutSeconds ?? d.recheckQueue.visibilityTimeoutSeconds,',
    ];
    const hits = lines.map((line) =>
      DEPLOYMENT_LITERALS.filter(([, p]) => p.test(line)).map(([what]) => what),
    );
    expect(hits).to.deep.equal([
      ['a queue or event source number'],
      ['a hook setting'],
      ['a queue or event source number'],
      ['a function timeout'],
      [],
    ]);
  });

  it('finds a copy when one is written (the check itself can fail)', () => {
    const line = `const t = 'autoscaling:EC2_INSTANCE_TERMINATING'; const cap = 172_800;`;
    const hits = FACT_LITERALS.filter(([, p]) => p.test(codeLines(line)[0] ?? '')).map(([f]) => f);
    expect(hits).to.deep.equal(['the terminate transition', 'the 48 h global timeout cap']);
    expect(codeLines('// 172800 is 48 h\n/* autoscaling:TEST_NOTIFICATION */ x')).to.deep.equal([
      '',
      ' x',
    ]);
  });

  it('computes the documented global timeout: min(48 h, 100 × HeartbeatTimeout)', () => {
    expect(documentedGlobalTimeoutSeconds(300)).to.equal(300 * GLOBAL_TIMEOUT_HEARTBEATS);
    expect(documentedGlobalTimeoutSeconds(7200)).to.equal(GLOBAL_TIMEOUT_CAP_SECONDS);
    expect(GLOBAL_TIMEOUT_CAP_SECONDS).to.equal(48 * 3600);
  });
});
