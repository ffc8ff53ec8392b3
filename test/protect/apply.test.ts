import { expect } from 'chai';
import { createRecordingLog } from '../../lib/log.js';
import { MAX_PROTECTION_BATCH } from '../../lib/ports.js';
import { chunk } from '../../lib/collections.js';
import { applyProtection } from '../../lib/protect/apply.js';
import { awsError, FakeFleet, type FakeMember } from './fakes.js';

function ids(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `i-${prefix}${String(i).padStart(4, '0')}`);
}

function fleetWith(protectIds: string[], unprotectIds: string[]): FakeFleet {
  const members: FakeMember[] = [
    ...protectIds.map((instanceId) => ({
      instanceId,
      lifecycleState: 'InService',
      protectedFromScaleIn: false,
    })),
    ...unprotectIds.map((instanceId) => ({
      instanceId,
      lifecycleState: 'InService',
      protectedFromScaleIn: true,
    })),
  ];
  return new FakeFleet().addGroup('workers', members);
}

describe('protect/apply', () => {
  it('splits 120 changes into calls of 50, 50 and 20', async () => {
    const toProtect = ids('p', 120);
    const fleet = fleetWith(toProtect, []);
    const out = await applyProtection(
      'workers',
      { protect: toProtect, unprotect: [] },
      fleet,
      createRecordingLog(),
    );
    expect(fleet.protectionCalls.map((c) => c.instanceIds.length)).to.deep.equal([50, 50, 20]);
    expect(fleet.protectionCalls.flatMap((c) => c.instanceIds)).to.deep.equal(toProtect);
    expect(fleet.protectionCalls.every((c) => c.protect && c.groupName === 'workers')).to.equal(
      true,
    );
    expect(out.protected).to.deep.equal(toProtect);
    expect(out.failed).to.deep.equal([]);
    expect(out.calls).to.equal(3);
  });

  it('never sends more than MAX_PROTECTION_BATCH ids in one call', async () => {
    const a = ids('p', 101);
    const b = ids('u', 51);
    const fleet = fleetWith(a, b);
    await applyProtection('workers', { protect: a, unprotect: b }, fleet, createRecordingLog());
    expect(Math.max(...fleet.protectionCalls.map((c) => c.instanceIds.length))).to.equal(
      MAX_PROTECTION_BATCH,
    );
    expect(fleet.protectionCalls.map((c) => [c.protect, c.instanceIds.length])).to.deep.equal([
      [true, 50],
      [true, 50],
      [true, 1],
      [false, 50],
      [false, 1],
    ]);
  });

  it('makes no call when there is nothing to change', async () => {
    const fleet = fleetWith([], []);
    const out = await applyProtection(
      'workers',
      { protect: [], unprotect: [] },
      fleet,
      createRecordingLog(),
    );
    expect(fleet.protectionCalls).to.deep.equal([]);
    expect(out).to.deep.equal({ protected: [], unprotected: [], failed: [], calls: 0 });
  });

  it('retries a batch rejected with ValidationError one by one and reports only the bad ids', async () => {
    const toProtect = ids('p', 60);
    const bad = new Set([toProtect[3]!, toProtect[57]!]);
    const fleet = fleetWith(toProtect, []);
    fleet.failProtection = (call) =>
      call.instanceIds.some((id) => bad.has(id))
        ? awsError('ValidationError', 'The instance is not in InService state')
        : undefined;
    const log = createRecordingLog();
    const out = await applyProtection('workers', { protect: toProtect, unprotect: [] }, fleet, log);
    expect(out.failed.map((f) => f.instanceId)).to.have.members([...bad]);
    expect(out.failed[0]!.reason).to.match(/ValidationError: The instance is not in InService/);
    expect(out.protected).to.have.length(58);
    expect(out.protected).to.not.include.members([...bad]);
    // 2 rejected batches (50, 10), then 50 + 10 single-instance retries.
    expect(out.calls).to.equal(2 + 60);
    expect(
      fleet.protectionCalls.map((c) => c.instanceIds.length).filter((n) => n > 1),
    ).to.deep.equal([50, 10]);
    const failLines = log.lines.filter((l) => l.message === 'protection change failed');
    expect(failLines.map((l) => l.fields.instanceId)).to.have.members([...bad]);
    expect(failLines.every((l) => l.fields.group === 'workers')).to.equal(true);
  });

  it('marks a batch failed on another error and still runs the other batches', async () => {
    const toProtect = ids('p', 120);
    const toUnprotect = ids('u', 3);
    const fleet = fleetWith(toProtect, toUnprotect);
    let n = 0;
    fleet.failProtection = () =>
      ++n === 2 ? awsError('InternalFailure', 'service unavailable') : undefined;
    const out = await applyProtection(
      'workers',
      { protect: toProtect, unprotect: toUnprotect },
      fleet,
      createRecordingLog(),
    );
    expect(out.failed.map((f) => f.instanceId)).to.deep.equal(toProtect.slice(50, 100));
    expect(out.failed.every((f) => f.action === 'protect')).to.equal(true);
    expect(out.protected).to.deep.equal([...toProtect.slice(0, 50), ...toProtect.slice(100)]);
    expect(out.unprotected).to.deep.equal(toUnprotect);
    // no one-by-one retry for a non-validation error
    expect(out.calls).to.equal(4);
  });

  it('sends protections before removals', async () => {
    const fleet = fleetWith(['i-p'], ['i-u']);
    await applyProtection(
      'workers',
      { protect: ['i-p'], unprotect: ['i-u'] },
      fleet,
      createRecordingLog(),
    );
    expect(fleet.protectionCalls.map((c) => c.protect)).to.deep.equal([true, false]);
    expect(fleet.member('workers', 'i-p').protectedFromScaleIn).to.equal(true);
    expect(fleet.member('workers', 'i-u').protectedFromScaleIn).to.equal(false);
  });

  it('chunks into slices of at most the given size', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).to.deep.equal([[1, 2], [3, 4], [5]]);
    expect(chunk([], 50)).to.deep.equal([]);
  });
});
