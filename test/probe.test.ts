import { expect } from 'chai';
import { mergeSettings } from '../lib/config.js';
import { AddressNotAllowedError } from '../lib/errors.js';
import type { ProbeSettings, Prober } from '../lib/ports.js';
import { classifyBody, createHttpProber, isLoopbackAddress, probeMany } from '../lib/probe.js';
import { closedPort, startWorker, type Behaviour, type Worker } from './helpers/http-workers.js';

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
      /timeout after 300 ms/,
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
      /timeout after 300 ms/,
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
