import { expect } from 'chai';
import { createRecordingLog } from '../../lib/log.js';
import { runScans, scanOffsetMs } from '../../lib/protect/schedule.js';

/** A virtual clock: sleeping and scanning move it forward, nothing waits for real. */
function virtualTime(deadlineMs: number) {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    remainingMs: () => deadlineMs - now,
  };
}

describe('protect/schedule', () => {
  it('spaces 4 scans 15 s apart across the minute', async () => {
    const t = virtualTime(75_000);
    const started: number[] = [];
    const out = await runScans({
      count: 4,
      marginMs: 5_000,
      ...t,
      log: createRecordingLog(),
      scan: async (i) => {
        started.push(t.clock());
        t.advance(1_000);
        return i;
      },
    });
    expect(out).to.deep.equal([0, 1, 2, 3]);
    expect(started).to.deep.equal([0, 15_000, 30_000, 45_000]);
    expect(t.sleeps).to.deep.equal([14_000, 14_000, 14_000]);
  });

  it('runs one scan at once and never sleeps when asked for one', async () => {
    const t = virtualTime(10_000);
    const out = await runScans({
      count: 1,
      marginMs: 5_000,
      ...t,
      log: createRecordingLog(),
      scan: async () => 'only',
    });
    expect(out).to.deep.equal(['only']);
    expect(t.sleeps).to.deep.equal([]);
  });

  it('starts the next scan at once when the previous one ran past its slot, never overlapping', async () => {
    const t = virtualTime(600_000);
    const started: number[] = [];
    let running = 0;
    await runScans({
      count: 3,
      marginMs: 5_000,
      ...t,
      log: createRecordingLog(),
      scan: async () => {
        expect(running).to.equal(0);
        running++;
        started.push(t.clock());
        t.advance(25_000); // longer than the 20 s spacing
        running--;
      },
    });
    expect(started).to.deep.equal([0, 25_000, 50_000]);
    expect(t.sleeps).to.deep.equal([]);
  });

  it('does not start a scan that would not finish before the deadline', async () => {
    // 12 scans 5 s apart, each 2 s long, a 30 s function with a 5 s margin: scan i at 5·i s
    // needs 5·i + 2 + 5 ≤ 30 → i ≤ 4, so 5 scans run.
    const t = virtualTime(30_000);
    const log = createRecordingLog();
    const started: number[] = [];
    const out = await runScans({
      count: 12,
      marginMs: 5_000,
      ...t,
      log,
      scan: async (i) => {
        started.push(t.clock());
        t.advance(2_000);
        return i;
      },
    });
    expect(started).to.deep.equal([0, 5_000, 10_000, 15_000, 20_000]);
    expect(out).to.have.length(5);
    expect(t.clock() + 5_000).to.be.at.most(30_000);
    const warn = log.lines.find((l) => l.level === 'warn');
    expect(warn?.message).to.match(/not started/);
    expect(warn?.fields).to.include({ scan: 6, of: 12 });
  });

  it('runs no scan and says why when even the first would not fit', async () => {
    const t = virtualTime(4_000);
    const log = createRecordingLog();
    let called = 0;
    const out = await runScans({
      count: 1,
      marginMs: 5_000,
      ...t,
      log,
      scan: async () => {
        called++;
      },
    });
    expect(out).to.deep.equal([]);
    expect(called).to.equal(0);
    expect(
      log.lines.some((l) => l.level === 'error' && /function timeout/.test(l.message)),
    ).to.equal(true);
  });

  it('spreads offsets evenly over the period', () => {
    expect([0, 1, 2].map((i) => scanOffsetMs(i, 3))).to.deep.equal([0, 20_000, 40_000]);
    expect(scanOffsetMs(11, 12)).to.equal(55_000);
  });
});
