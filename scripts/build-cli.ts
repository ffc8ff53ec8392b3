/**
 * Builds the `themis` command as plain JavaScript (no TypeScript loader at run time):
 * bin/themis.ts and everything it imports from lib/ bundled by esbuild into `dist/`, ESM for
 * Node 20; npm packages stay external (the package's dependencies). `themis sandbox` loads the
 * simulator lazily, so it is split into its own chunk and only read when that command runs.
 *
 * `npm pack` / `npm publish` run this through `prepack`. Usage: tsx scripts/build-cli.ts [outdir]
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The Node version the package's `engines` field promises. */
const NODE_TARGET = 'node20';

export async function buildCli(outdir = 'dist'): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { themis: 'bin/themis.ts' },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: NODE_TARGET,
    packages: 'external',
    // Chunks may start with it too: Node accepts a hashbang at the top of any module.
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildCli(process.argv[2]);
}
