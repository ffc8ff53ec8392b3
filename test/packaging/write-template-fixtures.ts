/**
 * Writes test/packaging/fixtures/stacks.json: the effective stack (template-compare.ts) that
 * each param set of COMPARED_STACKS packages to with the code of this tree — the defaults'
 * whole, the others as their difference from it. Run it on the commit whose stacks the deploy
 * must keep (`npx tsx test/packaging/write-template-fixtures.ts`); test/packaging-compare.test.ts
 * then holds every later change of the deploy to them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMPARED_STACKS, deltaFrom, effectiveStack, packageCompared } from './template-compare.js';

async function effective(name: string): Promise<Record<string, unknown>> {
  const stack = await packageCompared(name);
  await stack.cleanup();
  return effectiveStack(stack.template);
}

const dir = join(import.meta.dirname, 'fixtures');
await mkdir(dir, { recursive: true });
const defaults = await effective('defaults');
const others: Record<string, unknown> = {};
for (const name of Object.keys(COMPARED_STACKS)) {
  if (name !== 'defaults') others[name] = deltaFrom(defaults, await effective(name));
}
await writeFile(join(dir, 'stacks.json'), `${JSON.stringify({ defaults, others }, null, 1)}\n`);
