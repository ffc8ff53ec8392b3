import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { mergeSettings } from '../lib/config.js';
import { AddressNotAllowedError } from '../lib/errors.js';
import type { ProbeSettings, Prober } from '../lib/ports.js';
import {
  classifyBody,
  createHttpProber,
  gotTransport,
  defaultProbeConcurrency,
  LAMBDA_FILE_DESCRIPTORS,
  PROBE_DESCRIPTOR_BUDGET,
  probeDescriptorShare,
  RUNTIME_DESCRIPTORS,
  SDK_SOCKETS_PER_CLIENT,
  isLoopbackAddress,
  probeMany,
  PROBES_PER_TURN,
  ProbeFailure,
  type ProbeExchange,
  type ProbeTransport,
} from '../lib/probe.js';
import { isControlCode } from '../lib/text.js';
import type { Timers } from '../lib/time.js';
import { HOSTILE } from './helpers/hostile-servers.js';
import { closedPort, startWorker, type Behaviour, type Worker } from './helpers/http-workers.js';

/**
 * How late a probe may settle after its timeout on a loaded 2-core machine: the deadline
 * timer fires on time, the event loop may not.
 */
const LATE_MS = 250;
/** How early a probe that only its deadline can end may settle (timer rounding). */
const EARLY_MS = 30;

/** A raw answer: status line, extra header lines, a declared length, then the body. */
function rawAnswer(statusLine: string, body: string, ...headers: string[]): Behaviour {
  const lines = [statusLine, ...headers];
  if (!headers.some((h) => /^content-length:/i.test(h)))
    lines.push(`Content-Length: ${body.length}`);
  return { kind: 'raw', respond: (socket) => socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`) };
}

describe('probe', () => {
  const workers: Worker[] = [];
  const prober: Prober = createHttpProber({ loopbackOnly: true });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });

  async function worker(b: Behaviour): Promise<Worker> {
    const w = await startWorker(b);
    workers.push(w);
    return w;
  }

  function settingsFor(port: number, overrides: Partial<ProbeSettings> = {}): ProbeSettings {
    return { ...mergeSettings({ metricsPort: port, timeoutMs: 300 }), ...overrides };
  }

  const answers: Array<[string, Behaviour, string, RegExp?]> = [
    ['BUSY is busy', { kind: 'answer', body: 'BUSY' }, 'busy'],
    ['IDLE is idle', { kind: 'answer', body: 'IDLE' }, 'idle'],
    ['" Idle\\n" is idle (trimmed, case-insensitive)', { kind: 'answer', body: ' Idle\n' }, 'idle'],
    ['"busy\\r\\n" is busy', { kind: 'answer', body: 'busy\r\n' }, 'busy'],
    [
      'other text is unknown and quoted in the reason',
      { kind: 'answer', body: 'maybe' },
      'unknown',
      /unexpected answer "maybe"/,
    ],
    ['an empty body is unknown', { kind: 'answer', body: '' }, 'unknown', /unexpected answer ""/],
    [
      'HTTP 500 is unknown even with a BUSY body',
      { kind: 'answer', body: 'BUSY', status: 500 },
      'unknown',
      /HTTP 500/,
    ],
    ['HTTP 404 is unknown', { kind: 'answer', body: 'IDLE', status: 404 }, 'unknown', /HTTP 404/],
    [
      'a redirect is not followed and is unknown',
      { kind: 'answer', body: '', status: 302, headers: { location: 'http://127.0.0.1:1/idle' } },
      'unknown',
      /HTTP 302/,
    ],
    [
      'a 1 MB body is unknown (oversize)',
      { kind: 'answer', body: 'B'.repeat(1 << 20) },
      'unknown',
      /body larger than 4096 bytes/,
    ],
    [
      'a server that accepts and never answers times out',
      { kind: 'hang' },
      'unknown',
      /^timeout after 300 ms \(waiting for the answer\)$/,
    ],
    [
      'a reset connection is unknown',
      { kind: 'reset' },
      'unknown',
      /socket hang up|connection reset/,
    ],
    [
      'a slow drip past the timeout is unknown',
      { kind: 'drip', body: 'BUSY', intervalMs: 150 },
      'unknown',
      /^timeout after 300 ms \(reading the body, 1 bytes so far\)$/,
    ],
  ];

  for (const [title, behaviour, status, reason] of answers) {
    it(title, async () => {
      const w = await worker(behaviour);
      const result = await prober.probe(w.address, settingsFor(w.port));
      expect(result.status).to.equal(status);
      if (reason) expect(result.reason).to.match(reason);
      else expect(result.reason).to.equal(undefined);
    });
  }

  describe('hostile servers: unknown with a precise reason, settled by the timeout', () => {
    const timeoutMs = 300;
    for (const c of HOSTILE) {
      it(`settles a probe of a server that ${c.name}`, async () => {
        const w = await worker(c.behaviour);
        const started = performance.now();
        const result = await prober.probe(w.address, settingsFor(w.port, { timeoutMs }));
        const elapsed = performance.now() - started;
        expect(result.status).to.equal('unknown');
        expect(result.reason).to.match(c.reason);
        // Bounded and free of control characters, whatever the server sent.
        expect(result.reason!.length).to.be.at.most(120);
        expect([...result.reason!].some((ch) => isControlCode(ch.codePointAt(0)!))).to.equal(false);
        expect(elapsed, 'settled after its timeout + a scheduling margin').to.be.at.most(
          timeoutMs + LATE_MS,
        );
        if (!c.settlesEarly)
          expect(elapsed, 'settled only by its deadline').to.be.at.least(timeoutMs - EARLY_MS);
      });
    }
  });

  it('a refused connection settles at once with its reason', async () => {
    const port = await closedPort();
    const started = performance.now();
    const result = await prober.probe('127.0.0.1', settingsFor(port, { timeoutMs: 5000 }));
    expect(result).to.include({ status: 'unknown', reason: 'connection refused' });
    expect(performance.now() - started).to.be.below(1000);
  });

  it('settles by its deadline even when the transport never settles nor heeds the abort', async () => {
    // The deadline is the prober's, not the transport's: remove it and this probe never ends.
    let signalled: AbortSignal | undefined;
    const deaf: ProbeTransport = (exchange) => {
      signalled = exchange.signal;
      return new Promise(() => {});
    };
    const started = performance.now();
    const result = await createHttpProber({ transport: deaf }).probe(
      '127.0.0.1',
      settingsFor(9, { timeoutMs: 200 }),
    );
    const elapsed = performance.now() - started;
    expect(result).to.include({
      status: 'unknown',
      reason: 'timeout after 200 ms (connecting)',
    });
    expect(elapsed).to.be.within(200 - EARLY_MS, 200 + LATE_MS);
    expect(signalled?.aborted, 'the transport was told to stop').to.equal(true);
  });

  it('runs its deadline on the timers it is given', async () => {
    // A virtual clock: the deadline fires when the test says so, not after 2 s of real time.
    const pending: Array<{ at: number; fn: () => void }> = [];
    let now = 1_000;
    const virtual: Timers = {
      now: () => now,
      setTimeout: (fn, ms) => {
        const t = { at: now + ms, fn };
        pending.push(t);
        return t;
      },
      clearTimeout: (t) => {
        const i = pending.indexOf(t as (typeof pending)[number]);
        if (i >= 0) pending.splice(i, 1);
      },
    };
    const prober = createHttpProber({ timers: virtual, transport: () => new Promise(() => {}) });
    const probe = prober.probe('127.0.0.1', settingsFor(9, { timeoutMs: 2000 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pending.map((t) => t.at)).to.deep.equal([3_000]);
    now = 3_000;
    pending.shift()!.fn();
    expect(await probe).to.deep.equal({
      status: 'unknown',
      reason: 'timeout after 2000 ms (connecting)',
      latencyMs: 2000,
    });
  });

  it('answers unknown "aborted" when its caller aborts, at once', async () => {
    const w = await worker({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    const result = await prober.probe(w.address, settingsFor(w.port, { timeoutMs: 5000 }), {
      signal: controller.signal,
    });
    expect(result).to.include({ status: 'unknown', reason: 'aborted' });
    expect(performance.now() - started).to.be.below(1000);
  });

  it('does not send anything when its caller has already aborted', async () => {
    const w = await worker({ kind: 'answer', body: 'IDLE' });
    const result = await prober.probe(w.address, settingsFor(w.port), {
      signal: AbortSignal.abort(),
    });
    expect(result).to.include({ status: 'unknown', reason: 'aborted' });
    expect(w.requests).to.deep.equal([]);
  });

  it('lets one signal abort many probes at once, without a listener per probe', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const deaf = createHttpProber({ transport: () => new Promise(() => {}) });
      const pending = Array.from({ length: 40 }, () =>
        deaf.probe('127.0.0.1', settingsFor(9, { timeoutMs: 5000 }), { signal: controller.signal }),
      );
      await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      const results = await Promise.all(pending);
      expect(results.every((r) => r.reason === 'aborted')).to.equal(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).to.deep.equal([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('still answers when its caller passes a signal that never fires', async () => {
    const w = await worker({ kind: 'answer', body: 'BUSY' });
    const result = await prober.probe(w.address, settingsFor(w.port), {
      signal: new AbortController().signal,
    });
    expect(result.status).to.equal('busy');
  });

  describe('in a process of its own (nothing else keeps the event loop alive)', () => {
    /**
     * The symptom of the 101 defect: got's timers are unref'd and dropped on an upgrade, so
     * when the server closes the socket the event loop drains and the process (on Lambda: the
     * invocation) ends with the probe unsettled. The child prints the result, or UNSETTLED
     * when the loop drained first.
     */
    const child = (script: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const p = spawn(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script],
          {
            cwd: process.cwd(),
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
        p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
        p.once('error', reject);
        p.once('close', (code) =>
          code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}: ${err}`)),
        );
      });
    const preamble = `
      import { createHttpProber } from './lib/probe.ts';
      import { mergeSettings } from './lib/config.ts';
      let settled = false;
      process.on('beforeExit', () => { if (!settled) console.log('UNSETTLED'); });
      const report = (r) => { settled = true; console.log(JSON.stringify(r)); };`;

    it('settles a probe of a server that answers 101 and closes the socket', async () => {
      const w = await worker(
        HOSTILE.find((c) => c.name.includes('101') && c.name.includes('closes'))!.behaviour,
      );
      const out = await child(`${preamble}
        createHttpProber({ loopbackOnly: true })
          .probe('${w.address}', mergeSettings({ metricsPort: ${w.port}, timeoutMs: 500 }))
          .then(report);`);
      expect(JSON.parse(out)).to.include({ status: 'unknown' });
    });

    it('settles a probe whose transport holds nothing open and never settles', async () => {
      const out = await child(`${preamble}
        createHttpProber({ transport: () => new Promise(() => {}) })
          .probe('127.0.0.1', mergeSettings({ metricsPort: 9, timeoutMs: 300 }))
          .then(report);`);
      expect(JSON.parse(out)).to.include({
        status: 'unknown',
        reason: 'timeout after 300 ms (connecting)',
      });
    });
  });

  it('an oversize body is refused even without content-length (chunked)', async () => {
    const w = await worker({
      kind: 'handler',
      handle: (_req, res) => {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write('x'.repeat(1000));
        res.end();
      },
    });
    const result = await prober.probe(w.address, settingsFor(w.port));
    expect(result).to.include({ status: 'unknown', reason: 'body larger than 4096 bytes' });
  });

  it('a slow drip that finishes inside the timeout is still read', async () => {
    const w = await worker({ kind: 'drip', body: 'IDLE', intervalMs: 20 });
    const result = await prober.probe(w.address, settingsFor(w.port, { timeoutMs: 1000 }));
    expect(result.status).to.equal('idle');
  });

  it('a closed port is refused', async () => {
    const port = await closedPort();
    const result = await prober.probe('127.0.0.1', settingsFor(port));
    expect(result).to.include({ status: 'unknown', reason: 'connection refused' });
  });

  it('requests exactly the configured path with one leading slash', async () => {
    const w = await worker({ kind: 'answer', body: 'IDLE' });
    await prober.probe(w.address, settingsFor(w.port, { busyURL: '/work_status' }));
    expect(w.requests).to.deep.equal(['/work_status']);
  });

  it('closes its connection after the answer instead of keeping it alive', async () => {
    let connection: string | undefined;
    let closed: Promise<void> = Promise.resolve();
    const w = await worker({
      kind: 'handler',
      handle: (req, res) => {
        connection = req.headers.connection;
        closed = new Promise((resolve) => req.socket.once('close', () => resolve()));
        res.end('IDLE');
      },
    });
    const result = await prober.probe(w.address, settingsFor(w.port));
    expect(result.status).to.equal('idle');
    expect(connection).to.equal('close');
    await closed;
  });

  describe('default concurrency', () => {
    it('probes a whole group at once when its sockets fit in the budget', () => {
      expect(defaultProbeConcurrency(120)).to.equal(120);
      expect(defaultProbeConcurrency(900)).to.equal(900);
    });

    it('never holds more sockets than the budget', () => {
      expect(PROBE_DESCRIPTOR_BUDGET).to.equal(900);
      expect(defaultProbeConcurrency(1000)).to.equal(PROBE_DESCRIPTOR_BUDGET);
      expect(defaultProbeConcurrency(1000, 225)).to.equal(225);
    });

    it('probes at least one at a time', () => {
      expect(defaultProbeConcurrency(0)).to.equal(1);
      expect(defaultProbeConcurrency(5, 0)).to.equal(1);
    });

    it('leaves the runtime and both SDK clients their descriptors', () => {
      expect(
        PROBE_DESCRIPTOR_BUDGET + RUNTIME_DESCRIPTORS + 2 * SDK_SOCKETS_PER_CLIENT,
      ).to.be.at.most(LAMBDA_FILE_DESCRIPTORS);
    });

    it('shares the budget between the groups scanned at once', () => {
      expect(probeDescriptorShare(1)).to.equal(900);
      expect(probeDescriptorShare(4)).to.equal(225);
      expect(probeDescriptorShare(7) * 7).to.be.at.most(PROBE_DESCRIPTOR_BUDGET);
      expect(probeDescriptorShare(0)).to.equal(900);
    });
  });

  it('checks busyValue before idleValue when both are the same word', () => {
    expect(classifyBody('x', 'X', 'x')).to.deep.equal({ status: 'busy' });
  });

  it('refuses a non-loopback address before sending anything when loopback-only', async () => {
    let thrown: unknown;
    try {
      // The limited broadcast address is outside 127.0.0.0/8, yet even if the guard broke
      // nothing would be sent: the kernel refuses TCP to it (ENETUNREACH). The refusal of the
      // private ranges themselves is shown on isLoopbackAddress below, without any socket.
      await prober.probe('255.255.255.255', settingsFor(9000));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(AddressNotAllowedError);
  });

  it('answers unknown for something that is not an IPv4 address', async () => {
    const result = await prober.probe('example.com', settingsFor(9000));
    expect(result).to.include({ status: 'unknown' });
    expect(result.reason).to.match(/not an IPv4 address/);
  });

  it('knows loopback from private addresses', () => {
    expect(isLoopbackAddress('127.0.1.4')).to.equal(true);
    expect(isLoopbackAddress('127.255.255.255')).to.equal(true);
    for (const a of [
      '10.0.0.1',
      '172.16.0.1',
      '192.168.1.1',
      '8.8.8.8',
      '127.0.0.256',
      '1127.0.0.1',
    ]) {
      expect(isLoopbackAddress(a), a).to.equal(false);
    }
  });

  describe('addresses', () => {
    /** A transport that records what it is asked and sends nothing anywhere. */
    function recorder(): { transport: ProbeTransport; urls: string[] } {
      const urls: string[] = [];
      return {
        urls,
        transport: (exchange) => {
          urls.push(exchange.url);
          return Promise.resolve({ statusCode: 200, body: 'IDLE' });
        },
      };
    }

    it('knows loopback addresses written with every form of octet', () => {
      // Each octet form (250–255, 200–249, 100–199, 10–99, 0–9) in each of the three octets.
      for (const a of [
        '127.0.0.1',
        '127.255.251.250',
        '127.249.245.200',
        '127.199.100.150',
        '127.99.10.42',
        '127.9.249.99',
        '127.42.99.249',
      ]) {
        expect(isLoopbackAddress(a), a).to.equal(true);
      }
      for (const a of [
        '127.256.0.1',
        '127.0.256.1',
        '127.0.0.256',
        '127.260.0.1',
        '127.0.299.1',
        '127.0.0.300',
        '127.0.0',
        '127.0.0.1.1',
        ' 127.0.0.1',
        '127.0.0.1 ',
        '127.a.0.1',
        '127.0.1a.1',
        '127.0.0.1a',
        '128.0.0.1',
        '126.255.255.255',
      ]) {
        expect(isLoopbackAddress(a), a).to.equal(false);
      }
    });

    it('refuses a private or public IPv4 address before anything is sent, when loopback-only', async () => {
      // The transport records instead of sending: even a broken guard sends nothing anywhere.
      const { transport, urls } = recorder();
      const guarded = createHttpProber({ loopbackOnly: true, transport });
      for (const a of [
        '10.0.0.1',
        '172.16.0.1',
        '192.168.1.1',
        '8.8.8.8',
        '245.245.245.245',
        '250.99.9.199',
        '99.200.255.1',
        '1.22.245.9',
      ]) {
        let thrown: unknown;
        try {
          await guarded.probe(a, settingsFor(9000));
        } catch (err) {
          thrown = err;
        }
        expect(thrown, a).to.be.instanceOf(AddressNotAllowedError);
      }
      expect(urls).to.deep.equal([]);
      await guarded.probe('127.0.0.1', settingsFor(9000));
      expect(urls).to.deep.equal(['http://127.0.0.1:9000/work_status']);
    });

    it('answers unknown, quoting it, for an address that is not a dotted IPv4 address', async () => {
      const { transport, urls } = recorder();
      const guarded = createHttpProber({ loopbackOnly: true, transport });
      for (const a of [
        'example.com',
        '',
        '::1',
        '256.0.0.1',
        '1.2.3.256',
        '1.2.3',
        '1.2.3.4.5',
        ' 127.0.0.1',
        '127.0.0.1 ',
        'x127.0.0.1',
        '127.0.0.1:80',
        '127.0.0.1a',
      ]) {
        const result = await guarded.probe(a, settingsFor(9000));
        expect(result, JSON.stringify(a)).to.deep.equal({
          status: 'unknown',
          reason: `not an IPv4 address: "${a}"`,
          latencyMs: 0,
        });
      }
      expect(urls).to.deep.equal([]);
    });
  });

  describe('what the answer means', () => {
    it('compares with busyValue and idleValue trimmed and case-insensitively', () => {
      expect(classifyBody('working', ' Working\n', 'resting')).to.deep.equal({ status: 'busy' });
      expect(classifyBody('RESTING', 'working', '\tresting ')).to.deep.equal({ status: 'idle' });
    });

    it('quotes the trimmed answer, with its quotes escaped, in the reason', async () => {
      const w = await worker({ kind: 'answer', body: '  say "hi"\n' });
      const result = await prober.probe(w.address, settingsFor(w.port));
      expect(result.reason).to.equal('unexpected answer "say \\"hi\\""');
    });

    it('cuts a long answer in the reason to 40 characters', async () => {
      const w = await worker({ kind: 'answer', body: 'y'.repeat(100) });
      const result = await prober.probe(w.address, settingsFor(w.port));
      expect(result.reason).to.equal(`unexpected answer "${'y'.repeat(40)}…"`);
    });

    it('reads any 2xx status as an answer, up to 299', async () => {
      const w = await worker({ kind: 'answer', body: 'BUSY', status: 299 });
      expect((await prober.probe(w.address, settingsFor(w.port))).status).to.equal('busy');
      w.set({ kind: 'answer', body: 'BUSY', status: 300 });
      expect(await prober.probe(w.address, settingsFor(w.port))).to.include({
        status: 'unknown',
        reason: 'HTTP 300',
      });
    });

    it('does not read a final status below 200 as an answer', async () => {
      const w = await worker(rawAnswer('HTTP/1.1 099 OK', 'BUSY'));
      expect(await prober.probe(w.address, settingsFor(w.port))).to.include({
        status: 'unknown',
        reason: 'HTTP 99',
      });
    });

    it('does not inflate a compressed answer (a status is one plain word; no zip bombs)', async () => {
      let acceptEncoding: string | undefined = 'unset';
      const w = await worker({
        kind: 'handler',
        handle: (req, res) => {
          acceptEncoding = req.headers['accept-encoding'];
          res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
          res.end(gzipSync('BUSY'));
        },
      });
      const result = await prober.probe(w.address, settingsFor(w.port));
      expect(result.status).to.equal('unknown');
      expect(result.reason).to.match(/^unexpected answer /);
      expect(acceptEncoding).to.equal(undefined);
    });

    it('names itself and asks for text', async () => {
      let headers: Record<string, unknown> = {};
      const w = await worker({
        kind: 'handler',
        handle: (req, res) => {
          headers = req.headers;
          res.end('IDLE');
        },
      });
      await prober.probe(w.address, settingsFor(w.port));
      expect(headers).to.include({ 'user-agent': 'themis-probe', accept: 'text/plain' });
    });
  });

  describe('the body limit', () => {
    const small = createHttpProber({ loopbackOnly: true, maxBodyBytes: 8 });

    it('reads a body of exactly the limit, declared or chunked', async () => {
      const declared = await worker(rawAnswer('HTTP/1.1 200 OK', 'BUSY    '));
      expect((await small.probe(declared.address, settingsFor(declared.port))).status).to.equal(
        'busy',
      );
      const chunked = await worker({
        kind: 'handler',
        handle: (_req, res) => {
          res.write('BUSY');
          res.end('    ');
        },
      });
      expect((await small.probe(chunked.address, settingsFor(chunked.port))).status).to.equal(
        'busy',
      );
    });

    it('refuses a body one byte over the limit, declared or chunked', async () => {
      const declared = await worker(rawAnswer('HTTP/1.1 200 OK', 'BUSY     '));
      expect(await small.probe(declared.address, settingsFor(declared.port))).to.include({
        status: 'unknown',
        reason: 'body larger than 8 bytes',
      });
      const chunked = await worker({
        kind: 'handler',
        handle: (_req, res) => {
          res.write('BUSY');
          res.end('     ');
        },
      });
      expect(await small.probe(chunked.address, settingsFor(chunked.port))).to.include({
        status: 'unknown',
        reason: 'body larger than 8 bytes',
      });
    });

    it('refuses a declared oversize body at once, without waiting for it', async () => {
      // Declares 10,000 bytes, sends four and stalls: only the declaration can end this early.
      const w = await worker({
        kind: 'raw',
        respond: (socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\nBUSY`),
      });
      const started = performance.now();
      const result = await prober.probe(w.address, settingsFor(w.port, { timeoutMs: 5000 }));
      expect(result).to.include({ status: 'unknown', reason: 'body larger than 4096 bytes' });
      expect(performance.now() - started).to.be.below(1000);
    });
  });

  describe('failures, in words', () => {
    const cases: Array<[string, Behaviour, string]> = [
      [
        'an unknown HTTP version',
        rawAnswer('HTTP/9.9 200 OK', 'BUSY'),
        'not an HTTP answer (HPE_INVALID_VERSION)',
      ],
      [
        'a status that is not a number',
        rawAnswer('HTTP/1.1 2x0 OK', 'BUSY'),
        'not an HTTP answer (HPE_INVALID_STATUS)',
      ],
      [
        'a length that is not a number',
        rawAnswer('HTTP/1.1 200 OK', 'BUSY', 'Content-Length: abc'),
        'malformed HTTP answer (HPE_INVALID_CONTENT_LENGTH)',
      ],
    ];
    for (const [what, behaviour, reason] of cases) {
      it(`answers unknown for ${what}: "${reason}"`, async () => {
        const w = await worker(behaviour);
        expect(await prober.probe(w.address, settingsFor(w.port))).to.include({
          status: 'unknown',
          reason,
        });
      });
    }

    it('names a failure it has no words for by its code and message', async () => {
      // Settings that bypass the config's validation: a port no URL can carry.
      const result = await prober.probe('127.0.0.1', settingsFor(70_000));
      expect(result).to.include({ status: 'unknown', reason: 'ERR_INVALID_URL: Invalid URL' });
    });

    it('counts a single interim answer in the singular', async () => {
      const w = await worker({
        kind: 'raw',
        respond: (socket) => socket.write('HTTP/1.1 102 Processing\r\n\r\n'),
      });
      const result = await prober.probe(w.address, settingsFor(w.port));
      expect(result.reason).to.equal(
        'timeout after 300 ms (waiting for the answer, after 1 interim 1xx answer)',
      );
    });

    it('asks once when the connection is reset (the next scan is the retry)', async () => {
      const w = await worker({ kind: 'reset' });
      const result = await prober.probe(w.address, settingsFor(w.port, { timeoutMs: 5000 }));
      expect(result).to.include({ status: 'unknown', reason: 'connection reset' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(w.requests).to.have.length(1);
    });

    it('escapes and bounds the message of a transport error that is not a ProbeFailure', async () => {
      const failing = (err: unknown) =>
        createHttpProber({ transport: () => Promise.reject(err) }).probe(
          '127.0.0.1',
          settingsFor(9),
        );
      expect((await failing(new Error('evil\u001b[2Jtext'))).reason).to.equal('evil\\u001b[2Jtext');
      expect((await failing(new Error('z'.repeat(300)))).reason).to.equal(`${'z'.repeat(200)}…`);
      expect((await failing('not an Error')).reason).to.equal('not an Error');
    });

    it("takes a transport's ProbeFailure message as the reason, whole", async () => {
      const reason = `transport's own words ${'w'.repeat(250)}`;
      const result = await createHttpProber({
        transport: () => Promise.reject(new ProbeFailure(reason)),
      }).probe('127.0.0.1', settingsFor(9));
      expect(result.reason).to.equal(reason);
    });
  });

  describe('connections', () => {
    let listener: ChildProcess | undefined;
    const fillers: Socket[] = [];
    afterEach(() => {
      for (const f of fillers.splice(0)) f.destroy();
      listener?.kill();
      listener = undefined;
    });

    it('times out "connecting" on a listener that accepts no more connections', async () => {
      // A listener with a backlog of one in a process that never accepts (its thread sleeps):
      // once the queue is full, the kernel leaves further connections unanswered.
      listener = spawn(
        process.execPath,
        [
          '-e',
          `const s = require('net').createServer();
           s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
             console.log(s.address().port);
             setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000));
           });`,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const port = Number(
        await new Promise<string>((resolve) =>
          listener!.stdout!.once('data', (d: Buffer) => resolve(d.toString('utf8'))),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(
        fillers.some((f) => f.connecting),
        'the queue is full',
      ).to.equal(true);

      const result = await prober.probe('127.0.0.1', settingsFor(port));
      expect(result.reason).to.equal('timeout after 300 ms (connecting)');
    });

    for (const withSignal of [false, true]) {
      it(`closes its connection when its deadline passes${withSignal ? ' (caller signal given)' : ''}`, async () => {
        let closed: Promise<void> | undefined;
        const w = await worker({
          kind: 'handler',
          handle: (req) => {
            closed = new Promise((resolve) => req.socket.once('close', () => resolve()));
          },
        });
        const opts = withSignal ? { signal: new AbortController().signal } : undefined;
        const result = await prober.probe(w.address, settingsFor(w.port), opts);
        expect(result.reason).to.match(/^timeout after 300 ms/);
        const within = new Promise<string>((resolve) => setTimeout(() => resolve('open'), 1000));
        expect(await Promise.race([closed!.then(() => 'closed'), within])).to.equal('closed');
      });
    }

    it('got transport: stops with "aborted" when its signal fires mid-exchange', async () => {
      const w = await worker({ kind: 'hang' });
      const controller = new AbortController();
      const exchange: ProbeExchange = {
        url: `http://${w.address}:${w.port}/busy`,
        maxBodyBytes: 4096,
        signal: controller.signal,
        progress: { stage: 'connecting', informational: 0, bodyBytes: 0 },
      };
      const outcome = gotTransport()(exchange).then(
        () => 'answered',
        (err: unknown) => err,
      );
      setTimeout(() => controller.abort(), 50);
      const failure = await outcome;
      expect(failure).to.be.instanceOf(ProbeFailure);
      expect((failure as Error).message).to.equal('aborted');
    });

    it('reports a refused connection as such when its caller passes a signal', async () => {
      const port = await closedPort();
      const result = await prober.probe('127.0.0.1', settingsFor(port, { timeoutMs: 5000 }), {
        signal: new AbortController().signal,
      });
      expect(result).to.include({ status: 'unknown', reason: 'connection refused' });
    });

    it('names a ProbeFailure as one in logs', () => {
      expect(String(new ProbeFailure('connection reset'))).to.equal(
        'ProbeFailure: connection reset',
      );
    });

    it('got transport: sends nothing when its signal has already fired', async () => {
      const w = await worker({ kind: 'answer', body: 'BUSY' });
      const exchange: ProbeExchange = {
        url: `http://${w.address}:${w.port}/busy`,
        maxBodyBytes: 4096,
        signal: AbortSignal.abort(),
        progress: { stage: 'connecting', informational: 0, bodyBytes: 0 },
      };
      let failure: unknown;
      await gotTransport()(exchange).catch((err: unknown) => (failure = err));
      expect(failure).to.be.instanceOf(ProbeFailure);
      expect((failure as Error).message).to.equal('aborted');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(w.requests).to.deep.equal([]);
    });
  });

  it('keeps at most `concurrency` probes in flight and returns results in input order', async () => {
    let inFlight = 0;
    let peak = 0;
    const w = await worker({
      kind: 'handler',
      handle: (req, res) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        setTimeout(() => {
          inFlight--;
          res.end(req.url?.endsWith('busy') ? 'BUSY' : 'IDLE');
        }, 20);
      },
    });
    const items = Array.from({ length: 30 }, (_, i) => ({ address: w.address, id: i }));
    const results = await probeMany(prober, items, settingsFor(w.port), 5);
    expect(peak).to.be.at.most(5).and.at.least(2);
    expect(results.map((r) => r.id)).to.deep.equal(items.map((i) => i.id));
    expect(results.every((r) => r.result.status === 'idle')).to.equal(true);
  });

  it('starts at most PROBES_PER_TURN probes per event-loop turn, so answers are read between batches', async () => {
    let started = 0;
    const slow: Prober = {
      probe: () => {
        started++;
        return new Promise((resolve) =>
          setTimeout(() => resolve({ status: 'idle', latencyMs: 0 }), 20),
        );
      },
    };
    const items = Array.from({ length: 2 * PROBES_PER_TURN + 5 }, () => ({ address: '127.0.0.1' }));
    const all = probeMany(slow, items, settingsFor(9), items.length);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      await turn();
      seen.push(started);
    }
    expect(seen).to.deep.equal([PROBES_PER_TURN, 2 * PROBES_PER_TURN, items.length]);
    expect(await all).to.have.length(items.length);
  });

  it('one hung instance is unknown while the others still answer', async () => {
    const hung = await worker({ kind: 'hang' });
    const ok = await worker({ kind: 'answer', body: 'BUSY' });
    const items = [
      { address: hung.address, port: hung.port },
      ...Array.from({ length: 10 }, () => ({ address: ok.address, port: ok.port })),
    ];
    const results = await Promise.all(
      items.map((i) => prober.probe(i.address, settingsFor(i.port))),
    );
    expect(results.filter((r) => r.status === 'busy')).to.have.length(10);
    expect(results[0]?.status).to.equal('unknown');
  });
});
