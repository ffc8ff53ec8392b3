'use strict';
/* global module, require, __filename */
/**
 * What osls loads for `${file(./deploy/stack.cjs):<key>}`: the deploy is TypeScript
 * (deploy/stack.ts), sharing its schemas and facts with the functions; osls require()s a
 * .js/.cjs file only, so this file loads it through tsx (a dev dependency, present wherever
 * osls runs).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded by osls
const { resolveStack } = require('tsx/cjs/api').require('./stack.ts', __filename);

module.exports = (resolvers) => resolveStack(resolvers);
