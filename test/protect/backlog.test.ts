import { expect } from 'chai';
import sinon from 'sinon';
import {
  parseSettingsFromEnv,
  parseSettingsFromObject,
  parseSettingsFromTags,
} from '../../lib/config.js';
import { UpstreamError } from '../../lib/errors.js';
import { createRecordingLog } from '../../lib/log.js';
import type { QueueBacklog } from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import {
  backlogReport,
  busyRatio,
  inServiceCount,
  readBacklog,
} from '../../lib/protect/backlog.js';
import { createProtectHandler, type ProtectResult } from '../../lib/protect/handler.js';
import { unscannedReport, type GroupReport } from '../../lib/protect/scan.js';
import { FakeFleet, type FakeMember } from './fakes.js';
import { startWorkersOnOnePort, type WorkerSet } from './workers.js';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/work';

function scanned(overrides: Partial<GroupReport> = {}): GroupReport {
  const probe = (instanceId: string, status: 'busy' | 'idle' | 'unknown') => ({
    instanceId,
    address: '127.0.0.1',
    lifecycleState: 'InService',
    status,
    latencyMs: 1,
    protectedBefore: false,
    action: 'none' as const,
    decisionReason: '',
  });
  return {
    ...unscannedReport({ asgName: 'workers', region: 'us-east-1' }, 'failed', ''),
    outcome: 'ok',
    busy: { 'i-1': '127.0.0.1', 'i-2': '127.0.0.1', 'i-3': '127.0.0.1' },
    idle: { 'i-4': '127.0.0.1' },
    error: { 'i-5': '127.0.0.1' },
    probes: [
      probe('i-1', 'busy'),
      probe('i-2', 'busy'),
      probe('i-3', 'busy'),
      probe('i-4', 'idle'),
      probe('i-5', 'unknown'),
    ],
    skipped: [
      { instanceId: 'i-6', lifecycleState: 'InService', reason: 'no private IP address' },
      { instanceId: 'i-7', lifecycleState: 'Pending', reason: 'not InService (Pending)' },
    ],
    ...overrides,
  };
}

/** A queue port answering from a script: a count, an error, or never. */
function queue(answer: number | Error | 'never'): QueueBacklog & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    visibleMessages(queueUrl) {
      calls.push(queueUrl);
      if (answer === 'never') return new Promise(() => {});
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

describe('protect/backlog', () => {
  describe('backlog per instance', () => {
    it('divides the visible messages by the InService instances, skipped ones included', () => {
      // 6 InService: 5 probed + 1 skipped for want of an address; the Pending one is not.
      expect(inServiceCount(scanned())).to.equal(6);
      expect(backlogReport(QUEUE, { visibleMessages: 90 }, scanned())).to.deep.equal({
        queueUrl: QUEUE,
        visibleMessages: 90,
        inService: 6,
        backlogPerInstance: 15,
      });
    });

    it('is the backlog itself when no instance is InService', () => {
      const empty = scanned({ probes: [], skipped: [], busy: {}, idle: {}, error: {} });
      expect(backlogReport(QUEUE, { visibleMessages: 7 }, empty).backlogPerInstance).to.equal(7);
    });

    it('is unknown when the queue could not be read, and says why', () => {
      expect(backlogReport(QUEUE, { error: 'AccessDenied' }, scanned())).to.deep.equal({
        queueUrl: QUEUE,
        visibleMessages: null,
        inService: 6,
        backlogPerInstance: null,
        error: 'AccessDenied',
      });
    });

    it('is unknown when the scan could not list the group (no InService count to divide by)', () => {
      const failed = unscannedReport({ asgName: 'w', region: 'us-east-1' }, 'failed', 'x');
      expect(backlogReport(QUEUE, { visibleMessages: 5 }, failed)).to.include({
        visibleMessages: 5,
        inService: null,
        backlogPerInstance: null,
      });
    });

    it('counts the busy share of the instances that answered', () => {
      expect(busyRatio(scanned())).to.equal(0.75);
      expect(busyRatio(scanned({ busy: {}, idle: {} }))).to.equal(undefined);
    });
  });

  describe('reading the queue', () => {
    it('gives the count SQS answers', async () => {
      const port = queue(12);
      expect(await readBacklog(QUEUE, port, 1000)).to.deep.equal({ visibleMessages: 12 });
      expect(port.calls).to.deep.equal([QUEUE]);
    });

    it('turns a failure into a reason, never a throw', async () => {
      const cause = Object.assign(new Error('no'), { name: 'AccessDenied' });
      const reading = await readBacklog(
        QUEUE,
        queue(new UpstreamError('GetQueueAttributes', { cause })),
        1000,
      );
      expect(reading).to.deep.equal({ error: 'no' });
    });

    it('settles by its budget when SQS never answers', async () => {
      const clock = sinon.useFakeTimers();
      try {
        const reading = readBacklog(QUEUE, queue('never'), 2000);
        await clock.tickAsync(2000);
        expect(await reading).to.deep.equal({
          error: `GetQueueAttributes ${QUEUE}: no answer within 2000 ms`,
        });
      } finally {
        clock.restore();
      }
    });

    it('hands the port a signal that aborts at the deadline', async () => {
      let seen: AbortSignal | undefined;
      const port: QueueBacklog = {
        visibleMessages: (_url, opts) => {
          seen = opts?.signal;
          return new Promise(() => {});
        },
      };
      await readBacklog(QUEUE, port, 20);
      expect(seen?.aborted).to.equal(true);
    });

    it('says so when the region has no queue reader', async () => {
      expect(await readBacklog(QUEUE, undefined, 1000)).to.deep.equal({
        error: 'no queue reader in this region',
      });
    });
  });

  describe('naming the queue', () => {
    it('reads it from the tag, the variable and the event field, each named in its errors', () => {
      expect(parseSettingsFromTags({ 'themis:queue-url': QUEUE })).to.deep.equal({
        queueUrl: QUEUE,
      });
      expect(parseSettingsFromEnv({ THEMIS_QUEUE_URL: QUEUE })).to.deep.equal({ queueUrl: QUEUE });
      expect(parseSettingsFromObject({ queueUrl: QUEUE })).to.deep.equal({ queueUrl: QUEUE });
      expect(() => parseSettingsFromTags({ 'themis:queue-url': 'work' })).to.throw(
        /^themis:queue-url: must be an SQS queue URL/,
      );
      expect(() => parseSettingsFromEnv({ THEMIS_QUEUE_URL: 'https://sqs/x/work' })).to.throw(
        /^THEMIS_QUEUE_URL: must be an SQS queue URL/,
      );
    });
  });

  describe('in the protect handler', () => {
    let workers: WorkerSet;
    before(async () => {
      workers = await startWorkersOnOnePort([
        ['127.0.9.11', { kind: 'answer', body: 'BUSY' }],
        ['127.0.9.12', { kind: 'answer', body: 'IDLE' }],
      ]);
    });
    after(() => workers.close());

    const member = (instanceId: string, address: string): FakeMember => ({
      instanceId,
      address,
      lifecycleState: 'InService',
      protectedFromScaleIn: false,
    });

    function run(
      tags: Record<string, string>,
      port: QueueBacklog,
      env: Record<string, string> = {},
    ): { result: Promise<ProtectResult>; log: ReturnType<typeof createRecordingLog> } {
      const fleet = new FakeFleet().addGroup(
        'workers',
        [member('i-busy', '127.0.9.11'), member('i-idle', '127.0.9.12')],
        tags,
      );
      const log = createRecordingLog();
      const handler = createProtectHandler({
        config: {
          region: 'us-east-1',
          settings: { metricsPort: workers.port, timeoutMs: 500, ...parseSettingsFromEnv(env) },
          targets: [{ asgName: 'workers', region: 'us-east-1', settings: {} }],
          tagDiscovery: false,
          scansPerInvocation: 1,
          probeConcurrency: 4,
        },
        portsFor: () => ({ groups: fleet, addresses: fleet, protection: fleet, backlog: port }),
        prober: createHttpProber({ loopbackOnly: true }),
        log,
      });
      return { result: handler({}), log };
    }

    it("puts the queue named by the group's tag on the scan's report", async () => {
      const port = queue(10);
      const { result } = run({ 'themis:queue-url': QUEUE }, port);
      const [report] = (await result).scans[0]!.groups;
      expect(report!.backlog).to.deep.equal({
        queueUrl: QUEUE,
        visibleMessages: 10,
        inService: 2,
        backlogPerInstance: 5,
      });
      expect(port.calls).to.deep.equal([QUEUE]);
    });

    it('lets the tag win over THEMIS_QUEUE_URL', async () => {
      const port = queue(1);
      const other = QUEUE.replace('work', 'other');
      await run({ 'themis:queue-url': QUEUE }, port, { THEMIS_QUEUE_URL: other }).result;
      expect(port.calls).to.deep.equal([QUEUE]);
      const fromEnv = queue(1);
      await run({}, fromEnv, { THEMIS_QUEUE_URL: other }).result;
      expect(fromEnv.calls).to.deep.equal([other]);
    });

    it('reads no queue for a group that names none', async () => {
      const port = queue(1);
      const [report] = (await run({}, port).result).scans[0]!.groups;
      expect(report!.backlog).to.equal(undefined);
      expect(port.calls).to.deep.equal([]);
    });

    it('logs a queue it cannot read and goes on with the scan', async () => {
      const cause = Object.assign(new Error('Access to the resource is denied'), {
        name: 'AccessDenied',
      });
      const { result, log } = run(
        { 'themis:queue-url': QUEUE },
        queue(new UpstreamError(`GetQueueAttributes ${QUEUE}`, { cause })),
      );
      const [report] = (await result).scans[0]!.groups;
      expect(report!.outcome).to.equal('ok');
      expect(report!.protected).to.deep.equal(['i-busy']);
      expect(report!.backlog).to.include({ visibleMessages: null, backlogPerInstance: null });
      expect(report!.backlog!.error).to.equal('Access to the resource is denied');
      expect(log.lines.filter((l) => l.level === 'warn')).to.deep.equal([
        {
          level: 'warn',
          message: 'queue backlog could not be read; the scan goes on',
          fields: {
            group: 'workers',
            region: 'us-east-1',
            queueUrl: QUEUE,
            reason: 'Access to the resource is denied',
          },
        },
      ]);
    });

    it('gives a queue read that never answers the probe timeout, then goes on', async () => {
      const { result } = run({ 'themis:queue-url': QUEUE }, queue('never'));
      const [report] = (await result).scans[0]!.groups;
      // The read's budget is the target's probe timeout (500 ms here).
      expect(report!.backlog!.error).to.match(/: no answer within 500 ms$/);
      expect(report!.protected).to.deep.equal(['i-busy']);
    });
  });
});
