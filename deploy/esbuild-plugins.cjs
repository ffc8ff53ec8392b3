/**
 * esbuild plugins for the deployed bundles (serverless.yml `custom.esbuild.plugins`; the
 * benchmarks bundle with the same list, bench/bundle.ts).
 *
 * sdkSchemaKeys: lets esbuild drop the AWS SDK's unused operation schemas. Each client's
 * dist-es/schemas/schemas_0.js declares every shape of the service as an exported array, with
 * trait objects keyed by shared string constants: `{ [_xN]: "Min" }` where
 * `const _xN = "xmlName"`. A computed key might call toString() on an object, so esbuild
 * counts each such literal as a possible side effect and keeps every shape — EC2's 1.3 MB
 * module left 542 KB in each bundle, about 60 ms of protect's and the gate's cold import at
 * one vCPU (docs/bench.md). Written with the constant's own literal (`{ "xmlName": "Min" }`)
 * the shapes are side-effect free and only those the commands we send reach are kept.
 * Only keys naming a `const` of a string literal declared in the same file are rewritten;
 * test/esbuild-plugins.test.ts checks that every export of every client we bundle is the
 * same value before and after.
 */
'use strict';
/* global module, require */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- serverless-esbuild require()s this file
const { readFile } = require('node:fs/promises');

/** The SDK clients' generated schema modules. */
const SCHEMA_MODULE =
  /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/** `const _xN = "xmlName";` — the generator's form, one declaration per line. */
const STRING_CONST = /^const ([\w$]+) = ("(?:[^"\\\n]|\\.)*");$/gm;

/** A computed key `[name]:`. */
const COMPUTED_KEY = /\[([\w$]+)\]:/g;

/** The module's text with every computed key that names a string constant written literally. */
function literalSchemaKeys(text) {
  const literals = new Map();
  for (const m of text.matchAll(STRING_CONST)) literals.set(m[1], m[2]);
  return text.replace(COMPUTED_KEY, (key, name) =>
    literals.has(name) ? `${literals.get(name)}:` : key,
  );
}

const sdkSchemaKeys = {
  name: 'themis-sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_MODULE }, async (args) => ({
      contents: literalSchemaKeys(await readFile(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};

/**
 * http2-wrapper's utils/js-stream-socket.js (got imports http2-wrapper whatever `http2` says)
 * builds a TLS socket at load to reach Node's internal JSStreamSocket class: ~5 ms of each
 * cold start at one vCPU, for a class only its HTTP/2 proxies use (never themis: http2 off, no
 * proxy). The same module, computing the class on first `new`.
 */
const JS_STREAM_SOCKET = /[\\/]http2-wrapper[\\/]source[\\/]utils[\\/]js-stream-socket\.js$/;
const LAZY_JS_STREAM_SOCKET = `'use strict';
let JSStreamSocket;
module.exports = function LazyJSStreamSocket(...args) {
  JSStreamSocket ??= new (require('tls').TLSSocket)(new (require('stream').PassThrough)())._handle._parentWrap.constructor;
  return new JSStreamSocket(...args);
};
`;

const lazyJsStreamSocket = {
  name: 'themis-lazy-js-stream-socket',
  setup(build) {
    build.onLoad({ filter: JS_STREAM_SOCKET }, async (args) => {
      const original = await readFile(args.path, 'utf8');
      // A changed module is not this one: bundle it as it is, and the test says so.
      if (!original.includes('._handle._parentWrap.constructor')) return undefined;
      return { contents: LAZY_JS_STREAM_SOCKET, loader: 'js' };
    });
  },
};

module.exports = [sdkSchemaKeys, lazyJsStreamSocket];
module.exports.literalSchemaKeys = literalSchemaKeys;
module.exports.SCHEMA_MODULE = SCHEMA_MODULE;
module.exports.JS_STREAM_SOCKET = JS_STREAM_SOCKET;
