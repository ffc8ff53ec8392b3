/**
 * sim/ is not product code: lint (eslint.config.js) keeps every import of it out of lib/ and
 * functions/, static or dynamic, except the CLI's sandbox command, which loads it lazily.
 */
import { expect } from 'chai';
import { ESLint } from 'eslint';

async function problems(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint();
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('sim/ boundary (lint)', function () {
  this.timeout(60_000);

  it('refuses a static import of sim/ from lib/', async () => {
    const found = await problems(
      'lib/gate/example.ts',
      "import { Random } from '../../sim/random.js';\nexport const r = new Random(1);\n",
    );
    expect(found.join('\n')).to.match(/no-restricted-imports: .*not product code/);
  });

  it('refuses a static import of sim/ from functions/', async () => {
    const found = await problems(
      'functions/example.ts',
      "export { Random } from '../sim/random.js';\n",
    );
    expect(found.join('\n')).to.match(/no-restricted-imports/);
  });

  it('refuses a dynamic import of sim/ from lib/', async () => {
    const found = await problems(
      'lib/protect/example.ts',
      "export const load = () => import('../../sim/simulation.js');\n",
    );
    expect(found.join('\n')).to.match(/no-restricted-syntax: .*not product code/);
  });

  it('lets the sandbox command load sim/ lazily, and lets tests import it', async () => {
    expect(
      await problems(
        'lib/cli/commands/sandbox.ts',
        "export const load = () => import('../../../sim/sandbox.js');\n",
      ),
    ).to.deep.equal([]);
    expect(
      await problems('test/sim/example.ts', "export { Random } from '../../sim/random.js';\n"),
    ).to.deep.equal([]);
  });
});
