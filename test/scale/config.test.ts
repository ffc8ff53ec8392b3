import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError } from '../../lib/errors.js';
import { parseClusters, parseScaleConfig, substituteEnv } from '../../lib/scale/config.js';

const EXAMPLE = `
clusters:
  jobs:
    autoscale_group: jobs-asg
    cpu_buffer: 512
    mem_buffer: 1024
    services:
      worker:
        min: 1
        max: 10
        metric: { sqs_queue_url: "%(JOBS_QUEUE_URL)" }
        events:
          - { metric_min: 100, metric_max: null, action: 2 }
          - { metric_min: null, metric_max: 0, action: -1 }
      web:
        enabled: false
        min: 2
        max: 4
  reports:
    enabled: false
    autoscale_group: reports-asg
    cpu_buffer: 0
    mem_buffer: 0
`;

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const base = (services: string) => `
clusters:
  jobs:
    autoscale_group: jobs-asg
    cpu_buffer: 0
    mem_buffer: 0
    services:
${services}`;

describe('scale/config', () => {
  it('reads clusters, services, metrics and events', () => {
    const clusters = parseClusters(
      substituteEnv(
        EXAMPLE,
        { JOBS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/jobs' },
        'clusters.yml',
      ),
      'clusters.yml',
    );

    expect(clusters.map((c) => [c.name, c.enabled])).to.deep.equal([
      ['jobs', true],
      ['reports', false],
    ]);
    expect(clusters[0]).to.deep.include({
      autoscaleGroup: 'jobs-asg',
      cpuBuffer: 512,
      memBuffer: 1024,
    });
    expect(clusters[0]!.services.worker).to.deep.equal({
      enabled: true,
      min: 1,
      max: 10,
      metric: { kind: 'sqs', queueUrl: 'https://sqs.us-east-1.amazonaws.com/1/jobs' },
      events: [
        { metricMin: 100, metricMax: null, action: 2 },
        { metricMin: null, metricMax: 0, action: -1 },
      ],
    });
    expect(clusters[0]!.services.web).to.deep.include({ enabled: false, events: [] });
  });

  it('replaces %(NAME) from the environment', () => {
    expect(substituteEnv('a: %(A_1)\nb: %(B)', { A_1: 'x', B: 'y' }, 'f')).to.equal('a: x\nb: y');
  });

  it('names a missing %(NAME) variable', () => {
    const err = configError(() => substituteEnv(EXAMPLE, {}, 'clusters.yml'));

    expect(err.field).to.equal('JOBS_QUEUE_URL');
    expect(err.message).to.equal(
      'JOBS_QUEUE_URL: is not set (used as %(JOBS_QUEUE_URL) in clusters.yml)',
    );
  });

  it('refuses a placeholder that is not a variable name', () => {
    expect(configError(() => substituteEnv('a: %(A-B)', { 'A-B': 'x' }, 'f')).field).to.equal(
      '%(A-B)',
    );
  });

  const rejected: Array<[string, string, string | RegExp]> = [
    [
      'an unknown cluster key',
      `clusters:\n  jobs:\n    autoscale_group: g\n    cpu_buffer: 0\n    mem_buffer: 0\n    cpu_bufer: 1\n`,
      'f: clusters.jobs.cpu_bufer',
    ],
    [
      'an unknown service key',
      base('      w:\n        min: 0\n        max: 1\n        mni: 2\n'),
      'f: clusters.jobs.services.w.mni',
    ],
    [
      'an unknown event key',
      base(
        '      w:\n        min: 0\n        max: 1\n        metric: { url: "http://127.0.0.1/m", field: n }\n        events: [{ metric_min: 0, metric_max: 1, action: 1, when: now }]\n',
      ),
      'f: clusters.jobs.services.w.events.0.when',
    ],
    [
      'a metric that is neither form',
      base(
        '      w:\n        min: 0\n        max: 1\n        metric: { url: "http://127.0.0.1/m" }\n',
      ),
      'f: clusters.jobs.services.w.metric',
    ],
    [
      'min above max',
      base('      w:\n        min: 3\n        max: 1\n'),
      'f: clusters.jobs.services.w.min',
    ],
    [
      'events without a metric',
      base(
        '      w:\n        min: 0\n        max: 1\n        events: [{ metric_min: null, metric_max: null, action: 1 }]\n',
      ),
      'f: clusters.jobs.services.w.metric',
    ],
    [
      'a missing buffer',
      `clusters:\n  jobs:\n    autoscale_group: g\n    cpu_buffer: 0\n`,
      'f: clusters.jobs.mem_buffer',
    ],
    [
      'a fractional action',
      base(
        '      w:\n        min: 0\n        max: 1\n        metric: { sqs_queue_url: "http://127.0.0.1/q" }\n        events: [{ metric_min: null, metric_max: null, action: 1.5 }]\n',
      ),
      'f: clusters.jobs.services.w.events.0.action',
    ],
    [
      'a bad cluster name',
      `clusters:\n  "two words":\n    autoscale_group: g\n    cpu_buffer: 0\n    mem_buffer: 0\n`,
      /^f: clusters/,
    ],
    ['an unknown top-level key', `clusters: {}\nclusterz: {}\n`, 'f: clusterz'],
    ['invalid YAML', `clusters: [\n`, 'f'],
  ];
  for (const [what, text, field] of rejected) {
    it(`refuses ${what}, naming it`, () => {
      const err = configError(() => parseClusters(text, 'f'));
      if (typeof field === 'string') expect(err.field).to.equal(field);
      else expect(err.field).to.match(field);
    });
  }

  describe('the file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'themis-clusters-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is read from THEMIS_CLUSTERS_FILE, with THEMIS_DRY_RUN', () => {
      const path = join(dir, 'c.yml');
      writeFileSync(path, EXAMPLE);

      const config = parseScaleConfig({
        THEMIS_CLUSTERS_FILE: path,
        JOBS_QUEUE_URL: 'https://q/1',
        THEMIS_DRY_RUN: 'true',
      });

      expect(config.clusters).to.have.length(2);
      expect(config.dryRun).to.equal(true);
    });

    // Broken variant tried: unset defaulting to dry run (`boolLike.default(true)`) — caught.
    it('reads THEMIS_DRY_RUN as protect and the gate do, and names it when it is neither', () => {
      const path = join(dir, 'c.yml');
      writeFileSync(path, 'clusters: {}\n');
      const read = (value: string | undefined) =>
        parseScaleConfig({ THEMIS_CLUSTERS_FILE: path, THEMIS_DRY_RUN: value }).dryRun;

      expect([read(' YES '), read('0'), read(''), read(undefined)]).to.deep.equal([
        true,
        false,
        false,
        false,
      ]);
      const err = configError(() => read('maybe'));
      expect(err.field).to.equal('THEMIS_DRY_RUN');
    });

    it('names THEMIS_CLUSTERS_FILE when the file cannot be read', () => {
      const err = configError(() =>
        parseScaleConfig({ THEMIS_CLUSTERS_FILE: join(dir, 'missing.yml') }),
      );

      expect(err.field).to.equal('THEMIS_CLUSTERS_FILE');
      expect(err.message).to.include('missing.yml');
    });
  });

  it('accepts the commented example of docs/ecs.md', () => {
    const doc = readFileSync('docs/ecs.md', 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example, 'docs/ecs.md has a yaml example').to.be.a('string');

    const clusters = parseClusters(
      substituteEnv(
        example!,
        { JOBS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/jobs' },
        'docs',
      ),
      'docs',
    );

    expect(clusters.map((c) => c.name)).to.deep.equal(['jobs', 'reports']);
    expect(Object.keys(clusters[0]!.services)).to.deep.equal(['worker', 'web']);
  });
});
