import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * sim/ (the fleet simulator) is not product code: nothing deployed may depend on it. The
 * only way in is the CLI's sandbox command, which loads it when it runs.
 */
const SIM_MESSAGE =
  'sim/ is the fleet simulator, not product code: lib/ and functions/ never import it';
/**
 * esbuild cannot tree-shake zod's `z` re-export: `import { z } from 'zod'` bundles every
 * locale (370 KB of each function, 16–18 ms of its cold start at one vCPU; docs/bench.md).
 */
const ZOD_MESSAGE =
  "import * as z from 'zod': with `{ z }` esbuild bundles all of zod, every locale included";
const productImports = {
  'no-restricted-imports': [
    'error',
    { patterns: [{ regex: '^(\\.\\./)+sim(/|$)', message: SIM_MESSAGE }] },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: 'ImportExpression[source.value=/(^|\\/)sim\\//]', message: SIM_MESSAGE },
    {
      selector:
        "ImportDeclaration[source.value='zod'] > :matches(ImportSpecifier[imported.name='z'], ImportDefaultSpecifier)",
      message: ZOD_MESSAGE,
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.serverless/',
      '.esbuild/',
      '.venv/',
      '.build/',
      'dist/',
      '.stryker-tmp/',
      'reports/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['lib/**', 'functions/**'], rules: productImports },
  {
    // `themis sandbox` loads the simulator lazily, only when the command runs.
    files: ['lib/cli/commands/sandbox.ts'],
    rules: {
      'no-restricted-syntax': 'off',
    },
  },
);
