// Stryker loads this as a plugin (stryker.config.json "plugins"). The mocha runner resolves
// `mocha` from its own folder, so here it finds the mocha 11 installed beside it, not the
// project's mocha 12, whose CLI helpers (now .cjs) the runner cannot load.
export * from '@stryker-mutator/mocha-runner';
