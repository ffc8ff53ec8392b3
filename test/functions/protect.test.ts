/**
 * The real protect handler (functions/protect.ts, imported with AWS_ENDPOINT_URL pointing at
 * moto_server) against a moto group whose instances have 127.0.1.x addresses, each served by
 * a real HTTP worker bound to that address. What moto holds afterwards is the proof.
 */
import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  DescribeAutoScalingGroupsCommand,
  EnterStandbyCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import { expect } from 'chai';
import type { Behaviour } from '../helpers/http-workers.js';
import { createLoopbackFleet, startMoto, type Moto, type MotoFleet } from '../helpers/moto.js';
import { isLoopbackAddress } from '../../lib/probe.js';
import type { ProtectResult } from '../../lib/protect/handler.js';
import { startWorkersOnOnePort, type WorkerSet } from '../protect/workers.js';

type Handler = (event: unknown) => Promise<ProtectResult>;

const ENV_KEYS = ['AWS_ENDPOINT_URL', 'THEMIS_TARGETS', 'THEMIS_TAG_DISCOVERY'] as const;

describe('functions/protect over the wire (moto_server) @slow', function () {
  let moto: Moto;
  let asg: AutoScalingClient;
  let handler: Handler;
  const workerSets: WorkerSet[] = [];
  const savedEnv: Partial<Record<(typeof ENV_KEYS)[number], string>> = {};

  before(async () => {
    moto = await startMoto();
    asg = new AutoScalingClient(moto.clientConfig);
    for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
    // Set before the import: the module builds its config and clients once, at load.
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    delete process.env.THEMIS_TARGETS; // → tag discovery on for scheduled events
    delete process.env.THEMIS_TAG_DISCOVERY;
    ({ handler } = (await import('../../functions/protect.js')) as { handler: Handler });
  });

  after(async () => {
    await Promise.all(workerSets.map((w) => w.close()));
    asg?.destroy();
    await moto?.stop();
    for (const k of ENV_KEYS) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });

  async function serve(fleet: MotoFleet, behaviours: Behaviour[]): Promise<WorkerSet> {
    const set = await startWorkersOnOnePort(
      fleet.instanceIds.map((id, i) => [fleet.addresses.get(id)!, behaviours[i]!]),
    );
    workerSets.push(set);
    return set;
  }

  async function members(groupName: string) {
    const out = await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
    );
    return new Map(
      (out.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => [
        i.InstanceId!,
        { protected: i.ProtectedFromScaleIn ?? false, state: i.LifecycleState },
      ]),
    );
  }

  async function setProtection(groupName: string, ids: string[], protect: boolean) {
    await asg.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: groupName,
        InstanceIds: ids,
        ProtectedFromScaleIn: protect,
      }),
    );
  }

  it('protects busy, unprotects idle, keeps unknowns, skips Standby; scale-in then takes only unprotected', async () => {
    const fleet = await createLoopbackFleet(moto, { groupName: 'wire', size: 7, maxSize: 10 });
    const [busy1, busy2, idle1, idle2, garbage, hang, standby] = fleet.instanceIds as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const workers = await serve(fleet, [
      { kind: 'answer', body: 'BUSY' },
      { kind: 'answer', body: 'busy' },
      { kind: 'answer', body: 'IDLE' },
      { kind: 'answer', body: 'IDLE\n' },
      { kind: 'answer', body: 'segfault' },
      { kind: 'hang' },
      { kind: 'answer', body: 'BUSY' }, // Standby: must never be asked
    ]);
    await setProtection('wire', [idle1, idle2, garbage, standby], true);
    await asg.send(
      new EnterStandbyCommand({
        AutoScalingGroupName: 'wire',
        InstanceIds: [standby],
        ShouldDecrementDesiredCapacity: true,
      }),
    );

    const result = await handler({
      asgName: 'wire',
      region: moto.region,
      metricsPort: String(workers.port),
      busyURL: 'work_status',
      busyValue: 'BUSY',
      idleValue: 'IDLE',
      dryRun: false,
      timeoutMs: '500',
    });

    const report = result.scans[0]!.groups[0]!;
    expect(report.outcome).to.equal('ok');
    expect(Object.keys(report.busy).sort()).to.deep.equal([busy1, busy2].sort());
    expect(Object.keys(report.idle).sort()).to.deep.equal([idle1, idle2].sort());
    expect(Object.keys(report.error).sort()).to.deep.equal([garbage, hang].sort());
    expect(report.skipped).to.have.length(1);
    expect(report.skipped[0]).to.include({ instanceId: standby, lifecycleState: 'Standby' });

    const after = await members('wire');
    const isProtected = (id: string) => after.get(id)!.protected;
    expect([busy1, busy2, idle1, idle2, garbage, hang, standby].map(isProtected)).to.deep.equal([
      true, // busy → protected
      true,
      false, // idle → unprotected
      false,
      true, // unknown keeps its protection
      false, // unknown stays unprotected
      true, // Standby untouched
    ]);

    // Every probe went to one of the fleet's loopback addresses, and never to the Standby one.
    const probed = workers.probedAddresses();
    expect(probed).to.have.length(6);
    for (const address of probed) expect(isLoopbackAddress(address)).to.equal(true);
    for (const p of report.probes) expect(isLoopbackAddress(p.address)).to.equal(true);
    expect(workers.byAddress.get(fleet.addresses.get(standby)!)!.requests).to.deep.equal([]);

    // Scale in to the protected InService instances: moto removes only unprotected ones.
    const protectedInService = [...after]
      .filter(([, m]) => m.protected && m.state === 'InService')
      .map(([id]) => id);
    await asg.send(
      new SetDesiredCapacityCommand({
        AutoScalingGroupName: 'wire',
        DesiredCapacity: protectedInService.length,
      }),
    );
    const remaining = await members('wire');
    const removed = fleet.instanceIds.filter((id) => !remaining.has(id));
    expect(removed.sort()).to.deep.equal([idle1, idle2, hang].sort());
    for (const id of removed) expect(after.get(id)!.protected).to.equal(false);
    expect([...remaining.keys()].sort()).to.deep.equal([busy1, busy2, garbage, standby].sort());
  });

  it('on a scheduled event discovers tagged groups, applies their tag settings and leaves the rest', async () => {
    // The tagged group's port and path come from its tags: the event carries none.
    const tagged = await createLoopbackFleet(moto, {
      groupName: 'tagged',
      size: 3,
      tags: { 'themis:enabled': 'true' },
    });
    const taggedWorkers = await serve(tagged, [
      { kind: 'answer', body: 'working' },
      { kind: 'answer', body: 'resting' },
      { kind: 'answer', body: 'BUSY' }, // not the tag's busy value: unknown
    ]);
    await asg.send(
      new CreateOrUpdateTagsCommand({
        Tags: Object.entries({
          'themis:metrics-port': String(taggedWorkers.port),
          'themis:busy-url': '/health/busy',
          'themis:busy-value': 'working',
          'themis:idle-value': 'resting',
          'themis:probe-timeout-ms': '500',
        }).map(([Key, Value]) => ({
          Key,
          Value,
          ResourceId: 'tagged',
          ResourceType: 'auto-scaling-group',
          PropagateAtLaunch: false,
        })),
      }),
    );
    await setProtection('tagged', [tagged.instanceIds[1]!], true);

    const off = await createLoopbackFleet(moto, {
      groupName: 'switched-off',
      size: 1,
      tags: { 'themis:enabled': 'false' },
    });
    const offWorkers = await serve(off, [{ kind: 'answer', body: 'BUSY' }]);
    const badTag = await createLoopbackFleet(moto, {
      groupName: 'bad-tag',
      size: 1,
      tags: { 'themis:enabled': 'true', 'themis:metrics-port': 'nine thousand' },
    });
    const badWorkers = await serve(badTag, [{ kind: 'answer', body: 'BUSY' }]);

    const result = await handler({
      version: '0',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      region: moto.region,
      detail: {},
    });

    const groups = Object.fromEntries(result.scans[0]!.groups.map((g) => [g.asgName, g]));
    expect(Object.keys(groups).sort()).to.deep.equal(['bad-tag', 'tagged']);
    expect(groups['bad-tag']).to.include({ outcome: 'config-error', field: 'themis:metrics-port' });
    expect(groups.tagged!.outcome).to.equal('ok');

    const [busy, idle, unknown] = tagged.instanceIds as [string, string, string];
    const state = await members('tagged');
    expect([busy, idle, unknown].map((id) => state.get(id)!.protected)).to.deep.equal([
      true,
      false,
      false,
    ]);
    expect(taggedWorkers.byAddress.get(tagged.addresses.get(busy)!)!.requests).to.deep.equal([
      '/health/busy',
    ]);
    expect(offWorkers.probedAddresses()).to.deep.equal([]);
    expect(badWorkers.probedAddresses()).to.deep.equal([]);
    expect((await members('switched-off')).get(off.instanceIds[0]!)!.protected).to.equal(false);
    expect((await members('bad-tag')).get(badTag.instanceIds[0]!)!.protected).to.equal(false);
    for (const address of taggedWorkers.probedAddresses()) {
      expect(isLoopbackAddress(address)).to.equal(true);
    }
  });
});
