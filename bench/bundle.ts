/**
 * Bundle a benchmark entry point with the esbuild settings serverless.yml deploys
 * (`custom.esbuild`), so a child measures the code Lambda would run — minified, one ES
 * module, run by plain `node` — and not tsx's loader, which alone adds tens of MB of RSS.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build, type BuildOptions, type Format, type Platform, type Plugin } from 'esbuild';
import YAML from 'yaml';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..');

interface DeployedEsbuild {
  minify?: boolean;
  sourcemap?: boolean | 'linked' | 'inline' | 'external' | 'both';
  sourcesContent?: boolean;
  treeShaking?: boolean;
  keepNames?: boolean;
  format?: Format;
  platform?: Platform;
  target?: string;
  mainFields?: string[];
  outputFileExtension?: string;
  banner?: { js?: string };
  /** A module (relative to the project) exporting the esbuild plugins, as serverless-esbuild takes it. */
  plugins?: string;
}

/**
 * CloudFormation's short-form intrinsics (`!Ref OutcomeTopic`, `!GetAtt Queue.Arn`) as the
 * objects they stand for (`{ Ref: 'OutcomeTopic' }`), not as their argument's text: parsed
 * without these tags, `THEMIS_TOPIC_ARN: !Ref OutcomeTopic` read as the string
 * 'OutcomeTopic', and protect refused it at its cold start.
 */
const CFN_TAGS = ['Ref', 'GetAtt', 'Sub', 'Join', 'Select', 'Split', 'If', 'Equals', 'Not'].flatMap(
  (fn) => {
    const key = fn === 'Ref' ? 'Ref' : `Fn::${fn}`;
    const resolve = (value: unknown) => ({ [key]: value });
    return [
      { tag: `!${fn}`, resolve: (text: string) => resolve(text) },
      { tag: `!${fn}`, collection: 'seq' as const, resolve: (seq: unknown) => resolve(seq) },
    ];
  },
);

/**
 * serverless.yml as data, for the numbers the benchmarks take from the deploy (so that a
 * change there is measured, not a copy of it here). `${param:…}` references stay text;
 * CloudFormation intrinsics are objects (`{ Ref: … }`), never a resource's name as text.
 */
export async function readServerlessYml<T>(): Promise<T> {
  return YAML.parse(await readFile(join(PROJECT_ROOT, 'serverless.yml'), 'utf8'), {
    customTags: CFN_TAGS as YAML.Tags,
  }) as T;
}

/** `custom.esbuild` from serverless.yml. */
export async function deployedEsbuildSettings(): Promise<DeployedEsbuild> {
  const doc = await readServerlessYml<{ custom?: { esbuild?: DeployedEsbuild } }>();
  const settings = doc.custom?.esbuild;
  if (!settings) throw new Error('serverless.yml has no custom.esbuild section');
  return settings;
}

/** The plugins serverless-esbuild would load from `custom.esbuild.plugins`. */
function deployedPlugins(path: string | undefined): Plugin[] {
  if (!path) return [];
  return createRequire(import.meta.url)(join(PROJECT_ROOT, path)) as Plugin[];
}

/** Bundle `entry` (relative to the project) into `outDir`; returns the output file. */
export async function bundleEntry(entry: string, outDir: string): Promise<string> {
  const s = await deployedEsbuildSettings();
  const name = entry.replace(/^.*\//, '').replace(/\.ts$/, '');
  const outfile = join(outDir, `${name}${s.outputFileExtension ?? '.js'}`);
  const options: BuildOptions = {
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: s.minify ?? false,
    keepNames: s.keepNames ?? false,
    // The map too: with NODE_OPTIONS=--enable-source-maps Node reads it at load, which costs.
    ...(s.sourcemap !== undefined ? { sourcemap: s.sourcemap } : {}),
    ...(s.sourcesContent !== undefined ? { sourcesContent: s.sourcesContent } : {}),
    ...(s.treeShaking !== undefined ? { treeShaking: s.treeShaking } : {}),
    format: s.format ?? 'esm',
    platform: s.platform ?? 'node',
    ...(s.target ? { target: s.target } : {}),
    ...(s.mainFields ? { mainFields: s.mainFields } : {}),
    ...(s.banner?.js ? { banner: { js: s.banner.js } } : {}),
    plugins: deployedPlugins(s.plugins),
    logLevel: 'error',
  };
  await build(options);
  return outfile;
}
