import { expect } from 'chai';
import { DEFAULT_SETTINGS } from '../../lib/config.js';
import { resolveGateSettings } from '../../lib/gate/settings.js';

describe('gate settings', () => {
  it('layers defaults < environment < group tags < NotificationMetadata', () => {
    const { settings, problems } = resolveGateSettings(
      { metricsPort: 9100, busyValue: 'WORKING', idleValue: 'RESTING' },
      { 'themis:metrics-port': '9200', 'themis:busy-url': 'tagged', Name: 'web' },
      '{"metricsPort": 9300, "idleValue": "DONE"}',
    );
    expect(problems).to.deep.equal([]);
    expect(settings).to.deep.equal({
      ...DEFAULT_SETTINGS,
      metricsPort: 9300,
      busyURL: '/tagged',
      busyValue: 'WORKING',
      idleValue: 'DONE',
    });
  });

  it('uses the lower layer for a bad tag value only, and reports it by tag name', () => {
    const { settings, problems } = resolveGateSettings(
      { metricsPort: 9100 },
      { 'themis:metrics-port': 'ninety', 'themis:busy-value': 'HOT' },
      undefined,
    );
    expect(settings.metricsPort).to.equal(9100);
    expect(settings.busyValue).to.equal('HOT');
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include({ source: 'tags', field: 'themis:metrics-port' });
  });

  it('uses the lower layer for a bad metadata field only, and reports it by field name', () => {
    const { settings, problems } = resolveGateSettings(
      {},
      { 'themis:metrics-port': '9200' },
      '{"metricsPort": 0, "busyURL": "//other-host/x", "busyValue": "HOT"}',
    );
    expect(settings.metricsPort).to.equal(9200);
    expect(settings.busyURL).to.equal(DEFAULT_SETTINGS.busyURL);
    expect(settings.busyValue).to.equal('HOT');
    expect(problems.map((p) => p.field)).to.deep.equal(['metricsPort', 'busyURL']);
    expect(problems[1]!.message).to.match(/^busyURL: .*host/);
  });

  it('reports an unknown metadata key as a probable typo', () => {
    const { problems } = resolveGateSettings({}, {}, '{"metricPort": 9000}');
    expect(problems).to.have.length(1);
    expect(problems[0]!.message).to.contain('typo');
  });

  // AWS's own examples put plain text in NotificationMetadata: it is not ours to judge.
  for (const metadata of ['back up /var/log first', '[9000]', '42', '"text"']) {
    it(`treats metadata that is not a JSON object (${metadata}) as opaque text, without a problem`, () => {
      const { settings, problems } = resolveGateSettings({ metricsPort: 9100 }, {}, metadata);
      expect(settings.metricsPort).to.equal(9100);
      expect(problems).to.deep.equal([]);
    });
  }

  it('reports metadata that starts like a JSON object but is broken, and keeps the other layers', () => {
    const { settings, problems } = resolveGateSettings(
      { metricsPort: 9100 },
      {},
      '{"metricsPort": 9200',
    );
    expect(settings.metricsPort).to.equal(9100);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include({ source: 'metadata', field: 'NotificationMetadata' });
  });

  it('treats blank metadata as none', () => {
    expect(resolveGateSettings({}, {}, '  ').problems).to.deep.equal([]);
  });

  it('lets the metadata turn a dry run on for one hook', () => {
    expect(resolveGateSettings({}, {}, '{"dryRun": true}').settings.dryRun).to.equal(true);
  });
});
