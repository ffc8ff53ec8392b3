import { expect } from 'chai';
import sinon from 'sinon';
import { Deadline, DeadlineExceededError, realTimers } from '../lib/time.js';

describe('time', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => clock.restore());

  it('settles work that never answers at the deadline and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const run = Deadline.after(500, realTimers).run('hang', (signal) => {
      seen = signal;
      return new Promise<never>(() => {});
    });
    const settled = run.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await clock.tickAsync(499);
    expect(seen?.aborted).to.equal(false);
    await clock.tickAsync(1);
    const err = await settled;
    expect(err).to.be.instanceOf(DeadlineExceededError);
    expect((err as Error).message).to.equal('hang: no answer within 500 ms');
    expect(seen?.aborted).to.equal(true);
  });

  it('passes through a value that arrives in time and leaves the signal alone', async () => {
    let seen: AbortSignal | undefined;
    const run = Deadline.after(500, realTimers).run('quick', async (signal) => {
      seen = signal;
      await new Promise((r) => setTimeout(r, 100));
      return 42;
    });
    await clock.tickAsync(100);
    expect(await run).to.equal(42);
    await clock.tickAsync(1000);
    expect(seen?.aborted).to.equal(false);
  });

  it('passes through the work’s own error, and a synchronous throw', async () => {
    const d = Deadline.after(500, realTimers);
    const boom = new Error('boom');
    await d
      .run('fails', () => Promise.reject(boom))
      .then(
        () => expect.fail('resolved'),
        (err: unknown) => expect(err).to.equal(boom),
      );
    await d
      .run('throws', () => {
        throw boom;
      })
      .then(
        () => expect.fail('resolved'),
        (err: unknown) => expect(err).to.equal(boom),
      );
  });

  it('refuses to start work when no time is left', async () => {
    let started = false;
    const d = Deadline.after(10, realTimers);
    await clock.tickAsync(10);
    const err = await d
      .run('late', async () => {
        started = true;
      })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(DeadlineExceededError);
    expect(started).to.equal(false);
  });

  it('never lets a sub-deadline outlive its parent', async () => {
    const parent = Deadline.after(1000, realTimers);
    expect(parent.within(5000).atMs).to.equal(parent.atMs);
    expect(parent.within(200).atMs).to.equal(1_000_200);
    expect(parent.less(300).remainingMs()).to.equal(700);
    expect(Deadline.never(realTimers).remainingMs()).to.equal(Number.POSITIVE_INFINITY);
  });

  it('sleeps at most until the deadline', async () => {
    const d = Deadline.after(300, realTimers);
    let woke = false;
    void d.sleep(10_000).then(() => (woke = true));
    await clock.tickAsync(299);
    expect(woke).to.equal(false);
    await clock.tickAsync(1);
    expect(woke).to.equal(true);
  });
});
