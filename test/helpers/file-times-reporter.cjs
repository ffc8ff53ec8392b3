'use strict';
/* global require, module, process */
/**
 * Where `npm test`'s time goes: mocha's dot reporter, and at the end a JSON file
 * (FILE_TIMES_OUT, default file-times.json) with each test file's wall time and CPU time —
 * mocha's own and its reaped children's (moto_server, osls, cfn-lint, subprocesses), read
 * from /proc/self/stat — and each test's duration. On a shared machine compare CPU times and
 * shares, not wall times. Serial runs only (under --parallel a file's events arrive at once).
 *
 *   npx mocha 'test/**\/*.test.ts' --reporter test/helpers/file-times-reporter.cjs
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded by mocha
const fs = require('node:fs');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the project's mocha
const Mocha = require(`${process.cwd()}/node_modules/mocha`);

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_TEST_END, EVENT_HOOK_BEGIN } =
  Mocha.Runner.constants;
const TICKS_PER_SECOND = 100;

/** CPU milliseconds of this process and of its reaped children. */
function cpu() {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const ms = (i) => (Number(fields[i]) * 1000) / TICKS_PER_SECOND;
  return { own: ms(11) + ms(12), children: ms(13) + ms(14) };
}

class FileTimes extends Mocha.reporters.Dot {
  constructor(runner, options) {
    super(runner, options);
    const files = new Map();
    const tests = [];
    const start = Date.now();
    const cpuAtStart = cpu();
    let current = null;
    let since = start;
    let cpuSince = cpuAtStart;
    const switchTo = (file) => {
      if (!file || file === current) return;
      const now = Date.now();
      const c = cpu();
      if (current) {
        const e = files.get(current) ?? { wallMs: 0, cpuMs: 0, childrenCpuMs: 0 };
        e.wallMs += now - since;
        e.cpuMs += c.own - cpuSince.own;
        e.childrenCpuMs += c.children - cpuSince.children;
        files.set(current, e);
      }
      current = file;
      since = now;
      cpuSince = c;
    };
    runner.on(EVENT_SUITE_BEGIN, (suite) => switchTo(suite.file));
    // Root hooks (test/setup.ts: the shared moto_server stopped) have no file of their own.
    runner.on(EVENT_HOOK_BEGIN, (hook) => switchTo(hook.parent?.root ? '(root hooks)' : hook.file));
    runner.on(EVENT_TEST_END, (test) =>
      tests.push({ file: test.file, title: test.fullTitle(), ms: test.duration }),
    );
    runner.on(EVENT_RUN_END, () => {
      switchTo('(end)');
      const c = cpu();
      const out = {
        wallMs: Date.now() - start,
        cpuMs: c.own - cpuAtStart.own,
        childrenCpuMs: c.children - cpuAtStart.children,
        files: [...files].map(([file, e]) => ({ file, ...e })).sort((a, b) => b.wallMs - a.wallMs),
        tests: tests.sort((a, b) => b.ms - a.ms),
      };
      fs.writeFileSync(
        process.env.FILE_TIMES_OUT ?? 'file-times.json',
        `${JSON.stringify(out, null, 1)}\n`,
      );
    });
  }
}

module.exports = FileTimes;
