import { expect } from 'chai';
import {
  childLog,
  createLogger,
  createRecordingLog,
  forInvocation,
  serviceName,
} from '../lib/log.js';

/** Capture the JSON lines a Powertools logger writes to stdout/stderr while `run` runs. */
function captureLines(run: () => void): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const keep = ((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = keep;
  process.stderr.write = keep;
  try {
    run();
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  }
  return lines;
}

function withEnv<T>(vars: Record<string, string | undefined>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const context = { awsRequestId: 'req-7f3a', functionName: 'themis-dev-gate' };

describe('log', () => {
  it('names the service from POWERTOOLS_SERVICE_NAME when it is set', () => {
    const lines = withEnv(
      { POWERTOOLS_SERVICE_NAME: 'payments-gate', POWERTOOLS_LOG_LEVEL: 'INFO' },
      () => captureLines(() => createLogger('themis-gate').info('hello')),
    );
    expect(lines[0]).to.include({ service: 'payments-gate', message: 'hello' });
  });

  it('falls back to the default service name when POWERTOOLS_SERVICE_NAME is not set', () => {
    const lines = withEnv(
      { POWERTOOLS_SERVICE_NAME: undefined, POWERTOOLS_LOG_LEVEL: 'INFO' },
      () => captureLines(() => createLogger('themis-gate').info('hello')),
    );
    expect(lines[0]).to.include({ service: 'themis-gate' });
  });

  it('gives metrics the same service name as the logs', () => {
    expect(serviceName('themis-protect', { POWERTOOLS_SERVICE_NAME: ' payments ' })).to.equal(
      'payments',
    );
    expect(serviceName('themis-protect', {})).to.equal('themis-protect');
  });

  it('puts the request id on every line of an invocation, and a step’s fields on its child', () => {
    const lines = withEnv({ POWERTOOLS_LOG_LEVEL: 'INFO' }, () =>
      captureLines(() => {
        const root = createLogger('themis-gate');
        const invocation = forInvocation(root, context);
        invocation.info('batch');
        const step = childLog(invocation, { instanceId: 'i-0123456789abcdef0', group: 'workers' });
        step.warn('decision', { decision: 'hold' });
        root.info('outside');
      }),
    );
    expect(lines[0]).to.include({ message: 'batch', function_request_id: 'req-7f3a' });
    expect(lines[1]).to.include({
      message: 'decision',
      function_request_id: 'req-7f3a',
      instanceId: 'i-0123456789abcdef0',
      group: 'workers',
      decision: 'hold',
    });
    // The root logger is not changed by an invocation's child.
    expect(lines[2]).to.not.have.property('function_request_id');
    expect(lines[2]).to.not.have.property('instanceId');
  });

  it('gives any Log the same context: the request id and the step fields', () => {
    const recording = createRecordingLog();
    const step = childLog(forInvocation(recording, context), { instanceId: 'i-1', hook: 'h' });
    step.info('decision', { decision: 'release' });
    expect(recording.lines[0]?.fields).to.deep.equal({
      requestId: 'req-7f3a',
      instanceId: 'i-1',
      hook: 'h',
      decision: 'release',
    });
  });

  it('leaves the log as it is when there is no invocation context (tools, tests)', () => {
    const recording = createRecordingLog();
    forInvocation(recording, undefined).info('x');
    expect(recording.lines[0]?.fields).to.deep.equal({});
  });
});
