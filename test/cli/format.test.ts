import { expect } from 'chai';
import { protectText, statusRows, statusTable } from '../../lib/cli/format.js';
import { unscannedReport, type GroupReport } from '../../lib/protect/scan.js';

function report(overrides: Partial<GroupReport> = {}): GroupReport {
  return {
    ...unscannedReport({ asgName: 'web', region: 'eu-west-1' }, 'failed', ''),
    outcome: 'ok',
    busy: { 'i-b': '127.0.0.2' },
    error: { 'i-u': '127.0.0.3' },
    planned: { protect: ['i-b'], unprotect: [] },
    probes: [
      {
        instanceId: 'i-u',
        address: '127.0.0.3',
        availabilityZone: 'eu-west-1b',
        lifecycleState: 'InService',
        status: 'unknown',
        reason: 'connection refused',
        latencyMs: 3,
        protectedBefore: true,
        action: 'none',
        decisionReason: 'unknown answer: protection left in place',
      },
      {
        instanceId: 'i-b',
        address: '127.0.0.2',
        availabilityZone: 'eu-west-1a',
        lifecycleState: 'InService',
        status: 'busy',
        latencyMs: 12,
        protectedBefore: false,
        action: 'protect',
        decisionReason: 'busy and unprotected',
      },
    ],
    skipped: [{ instanceId: 'i-a', lifecycleState: 'Pending', reason: 'not InService (Pending)' }],
    ...overrides,
  };
}

describe('cli/format', () => {
  it('lists probed and skipped instances together, sorted by id', () => {
    expect(statusRows(report()).map((r) => [r.instanceId, r.probe, r.protected])).to.deep.equal([
      ['i-a', 'skipped', null],
      ['i-b', 'busy', false],
      ['i-u', 'unknown', true],
    ]);
  });

  it('puts the reason next to an unknown answer and the latency in ms', () => {
    const table = statusTable(report());
    const line = table.split('\n').find((l) => l.includes('i-u'))!;
    expect(line).to.match(/eu-west-1b.*InService.*yes.*unknown: connection refused.*3 ms/);
    expect(table.includes('\u001b[')).to.equal(false, 'no colour codes');
    expect(table.trimEnd().split('\n').at(-1)).to.equal(
      'web (eu-west-1): 1 busy, 0 idle, 1 unknown, 1 skipped',
    );
  });

  it('says "would" in a dry run and lists made changes otherwise', () => {
    expect(protectText(report({ dryRun: true }))).to.match(/^would protect +i-b +\(busy\)$/m);
    expect(protectText(report({ protected: ['i-b'] }))).to.match(/^protected +i-b +\(busy\)$/m);
    expect(protectText(report({ planned: { protect: [], unprotect: [] } }))).to.match(
      /nothing to change/,
    );
  });
});
