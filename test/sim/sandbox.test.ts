import { expect } from 'chai';
import type { CliContext } from '../../lib/cli/context.js';
import { runCli } from '../../lib/cli/program.js';
import { silentLog } from '../../lib/log.js';
import { createHttpProber } from '../../lib/probe.js';
import { sandboxCommand } from '../../lib/cli/commands/sandbox.js';
import { runSandbox, SANDBOX_GROUP } from '../../sim/sandbox.js';

describe('sim/sandbox', function () {
  this.timeout(60_000);

  it('runs the demo without terminating a busy instance and reports what happened', async () => {
    let printed = '';
    const summary = await runSandbox({ fast: true, live: false, out: (s) => (printed += s) });

    expect(summary.exitCode).to.equal(0);
    expect(summary.terminatedWhileBusy).to.deep.equal([]);
    expect(summary.violations).to.deep.equal([]);
    // The story happened: two busy instances held (scale-in, health check) — with the
    // deployed hook's timeout, heartbeats only when it comes near (none in a 9-minute hold),
    // a fully protected scale-in, a dead instance released as unreachable.
    expect(summary.holds).to.equal(2);
    expect(summary.couldNotScale).to.be.at.least(1);
    const subjects = summary.notices.map((n) => n.subject);
    expect(subjects.filter((s) => s.includes('holding'))).to.have.length(2);
    expect(subjects.some((s) => /released i-\w+ in render-farm: unreachable/.test(s))).to.equal(
      true,
    );
    expect(
      subjects.filter((s) => / released i-\w+ in render-farm after \d/.test(s)).length,
    ).to.be.at.least(8);
    expect(summary.apiCalls.CompleteLifecycleAction).to.equal(summary.terminations);
    expect(summary.apiCalls.RecordLifecycleActionHeartbeat ?? 0).to.equal(summary.heartbeats);
    // Real HTTP: the loopback workers answered the probes.
    expect(summary.probeRequests).to.be.greaterThan(100);

    // The log reads as a timeline, then the summary and every notice.
    expect(printed).to.match(/^\[00:08:30\] scale-in +render-farm: scale-in by 4$/m);
    expect(printed).to.match(
      /^\[00:31:30\] could-not-scale +render-farm: could not scale in \d instances?/m,
    );
    expect(printed).to.contain('instances terminated while busy: 0');
    expect(printed).to.contain(`Subject: ${subjects[0]}`);
    expect(printed).to.contain('OK: no busy instance was terminated.');
    expect(printed).to.not.contain('\x1b[');
    expect(summary.group).to.equal(SANDBOX_GROUP);
  });

  it('redraws a live table when asked to', async () => {
    let printed = '';
    await runSandbox({ fast: true, live: true, out: (s) => (printed += s) });
    const frames = printed.split('\x1b[H\x1b[2J');
    expect(frames.length).to.be.greaterThan(100);
    const frame = frames[60]!;
    expect(frame).to.match(/instance +│ address +│ work +│ protected │ lifecycle +│ gate/);
    expect(frame).to.match(/127\.0\.10\.1 +│/);
  });

  it('runs as `themis sandbox` and exits 0', async () => {
    let out = '';
    let err = '';
    const ctx: CliContext = {
      env: {},
      out: (s) => void (out += s),
      err: (s) => void (err += s),
      prober: createHttpProber({ loopbackOnly: true }),
      log: () => silentLog,
      connect: () => Promise.reject(new Error('the sandbox must not reach AWS')),
    };
    const code = await runCli(['node', 'themis', 'sandbox', '--fast', '--timeline'], ctx, [
      sandboxCommand,
    ]);
    expect(err).to.equal('');
    expect(code).to.equal(0);
    expect(out).to.contain('OK: no busy instance was terminated.');
    expect(
      await runCli(['node', 'themis', 'sandbox', '--speed', '0'], ctx, [sandboxCommand]),
    ).to.equal(1);
    expect(err).to.equal('themis: --speed: must be a positive number\n');
  });
});
