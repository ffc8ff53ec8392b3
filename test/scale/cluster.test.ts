import { expect } from 'chai';
import {
  place,
  planCluster,
  scaleInCandidate,
  type ClusterState,
} from '../../lib/scale/cluster.js';
import type { ContainerInstance, EcsResources, GroupInstance } from '../../lib/ports.js';

/** A container instance of 2048 CPU / 4096 MiB with `used` reserved. */
function ci(n: number, used: EcsResources, status = 'ACTIVE'): ContainerInstance {
  return {
    arn: `arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/ci-${n}`,
    ec2InstanceId: `i-${n}`,
    status,
    agentConnected: true,
    registered: { cpu: 2048, memoryMb: 4096 },
    remaining: { cpu: 2048 - used.cpu, memoryMb: 4096 - used.memoryMb },
    runningTasksCount: 0,
    pendingTasksCount: 0,
  };
}
const member = (n: number, lifecycleState = 'InService'): GroupInstance => ({
  instanceId: `i-${n}`,
  lifecycleState,
  protectedFromScaleIn: false,
});
const use = (cpu: number, memoryMb: number): EcsResources => ({ cpu, memoryMb });

function state(
  partial: Partial<ClusterState> & Pick<ClusterState, 'containerInstances'>,
): ClusterState {
  const n = partial.containerInstances.length;
  return {
    minSize: 1,
    maxSize: 5,
    desiredCapacity: n,
    members: partial.containerInstances.map((_, i) => member(i + 1)),
    cpuBuffer: 512,
    memBuffer: 1024,
    additions: [],
    ...partial,
  };
}

describe('scale/cluster', () => {
  describe('scale up', () => {
    it('scales up by one when no ACTIVE instance keeps both buffers free', () => {
      const action = planCluster(
        state({ containerInstances: [ci(1, use(1800, 1000)), ci(2, use(100, 3500))] }),
      );

      expect(action).to.deep.include({ kind: 'scale-up', from: 2, to: 3 });
    });

    it('counts the tasks the services are about to add before deciding', () => {
      const s = state({ containerInstances: [ci(1, use(0, 0))] });
      expect(planCluster(s).kind).to.not.equal('scale-up');

      const action = planCluster({ ...s, additions: [use(1024, 2048), use(1024, 2048)] });
      expect(action.kind).to.equal('scale-up');
      expect(action.reason).to.match(/after the 2 tasks the services are adding/);
    });

    it('scales up when an addition fits nowhere', () => {
      const action = planCluster(
        state({
          containerInstances: [ci(1, use(0, 0))],
          cpuBuffer: 0,
          memBuffer: 0,
          additions: [use(4096, 10)],
        }),
      );

      expect(action.kind).to.equal('scale-up');
      expect(action.reason).to.equal('1 of 1 tasks the services are adding do not fit');
    });

    it('never goes above MaxSize', () => {
      const action = planCluster(
        state({ containerInstances: [ci(1, use(2048, 4096))], maxSize: 1 }),
      );

      expect(action.kind).to.equal('none');
      expect(action.reason).to.match(/at its MaxSize 1/);
    });

    it('does not ask again while an instance it asked for is still launching', () => {
      const action = planCluster(
        state({ containerInstances: [ci(1, use(2048, 4096))], desiredCapacity: 2 }),
      );

      expect(action.kind).to.equal('none');
      expect(action.reason).to.match(/waiting for 1 instance\(s\) still launching/);
    });

    it('does not count DRAINING or non-InService instances as room', () => {
      const action = planCluster(
        state({
          containerInstances: [
            ci(1, use(2048, 4096)),
            ci(2, use(0, 0), 'DRAINING'),
            ci(3, use(0, 0)),
          ],
          members: [member(1), member(2), member(3, 'Terminating:Wait')],
          desiredCapacity: 2,
        }),
      );

      expect(action).to.deep.include({ kind: 'scale-up', from: 2, to: 3 });
    });

    it('does not count a container instance that names no EC2 instance as room', () => {
      const orphan: ContainerInstance = { ...ci(2, use(0, 0)), ec2InstanceId: undefined };
      const action = planCluster(state({ containerInstances: [ci(1, use(2048, 4096)), orphan] }));

      expect(action).to.deep.include({ kind: 'scale-up', from: 2, to: 3 });
    });
  });

  describe('scale in', () => {
    const roomy = () =>
      state({
        containerInstances: [ci(1, use(1024, 2048)), ci(2, use(256, 512)), ci(3, use(512, 256))],
      });

    it('picks the instance with the least reserved memory, then CPU', () => {
      expect(scaleInCandidate(roomy())!.ec2InstanceId).to.equal('i-3');
      const tie = state({ containerInstances: [ci(1, use(900, 512)), ci(2, use(300, 512))] });
      expect(scaleInCandidate(tie)!.ec2InstanceId).to.equal('i-2');
    });

    it('scales in the candidate when its tasks fit on the others with the buffers left', () => {
      const action = planCluster(roomy(), [use(512, 256)]);

      expect(action).to.deep.include({ kind: 'scale-in', instanceId: 'i-3', from: 3, to: 2 });
      expect(action.kind === 'scale-in' && action.containerInstanceArn).to.match(/\/jobs\/ci-3$/);
    });

    it('keeps the candidate when one of its tasks fits nowhere else', () => {
      const s = state({
        containerInstances: [ci(1, use(1800, 3900)), ci(2, use(0, 100))],
        cpuBuffer: 0,
        memBuffer: 0,
      });

      const action = planCluster(s, [use(100, 100), use(300, 300)]);

      expect(action.kind).to.equal('none');
      expect(action.reason).to.match(/do not all fit/);
    });

    it('keeps the candidate when moving its tasks would leave no instance with the buffers', () => {
      const s = state({ containerInstances: [ci(1, use(1400, 3000)), ci(2, use(100, 100))] });

      const action = planCluster(s, [use(100, 100)]);

      expect(action.kind).to.equal('none');
      expect(action.reason).to.match(/no instance would keep 512 CPU units and 1024 MiB free/);
    });

    it('never goes below MinSize', () => {
      expect(planCluster({ ...roomy(), minSize: 3 }, [use(512, 256)]).kind).to.equal('none');
      expect(planCluster({ ...roomy(), minSize: 2 }, [use(512, 256)]).kind).to.equal('scale-in');
    });

    it('counts instances already DRAINING as gone toward MinSize (the seed counted them)', () => {
      const s = state({
        containerInstances: [ci(1, use(0, 0)), ci(2, use(0, 0)), ci(3, use(0, 0), 'DRAINING')],
        minSize: 2,
      });

      const action = planCluster(s, []);

      // 3 desired, 1 of them draining: one more scale-in would leave 1 < MinSize 2.
      expect(action.kind).to.equal('none');
      expect(action.reason).to.match(/3 desired \(1 draining\) and MinSize 2/);
    });

    it('does not consider scale-in without the candidate’s tasks', () => {
      expect(planCluster(roomy()).reason).to.match(/tasks of i-3 are not known/);
    });

    it('does not scale in the last ACTIVE instance', () => {
      const action = planCluster(state({ containerInstances: [ci(1, use(0, 0))], minSize: 0 }), []);

      expect(action.kind).to.equal('none');
    });
  });

  describe('operators read why nothing happened', () => {
    it('says no instance keeps the buffers, without mentioning additions when there are none', () => {
      const action = planCluster(
        state({ containerInstances: [ci(1, use(1800, 1000)), ci(2, use(100, 3500))] }),
      );

      expect(action.reason).to.equal('no ACTIVE instance keeps 512 CPU units and 1024 MiB free');
    });

    it('says scale-in would go below MinSize, naming no draining when none is', () => {
      const action = planCluster(state({ containerInstances: [ci(1, use(0, 0))] }), []);

      expect(action).to.deep.equal({
        kind: 'none',
        reason: 'enough room; no scale-in: 1 desired and MinSize 1',
      });
    });

    it('says there is no other ACTIVE instance to move the last one’s tasks to', () => {
      const action = planCluster(state({ containerInstances: [ci(1, use(0, 0))], minSize: 0 }), []);

      expect(action).to.deep.equal({
        kind: 'none',
        reason: 'enough room; no other ACTIVE instance to move tasks to',
      });
    });

    it('says the candidate’s tasks do not fit, and whether the services’ additions were counted', () => {
      const s = state({
        containerInstances: [ci(1, use(1800, 3900)), ci(2, use(0, 100))],
        cpuBuffer: 0,
        memBuffer: 0,
      });

      expect(planCluster(s, [use(100, 100), use(300, 300)])).to.deep.equal({
        kind: 'none',
        reason: 'no scale-in: the 2 task(s) of i-2 do not all fit on the other instances',
      });
      // i-1 has 196 MiB free: the candidate's 190 MiB task fits alone, not beside a 10 MiB addition.
      expect(planCluster(s, [use(100, 190)]).kind).to.equal('scale-in');
      expect(planCluster({ ...s, additions: [use(10, 10)] }, [use(100, 190)])).to.deep.equal({
        kind: 'none',
        reason:
          "no scale-in: the 1 task(s) of i-2 do not all fit on the other instances with the services' additions",
      });
    });

    it('says which instance is scaled in, why it was chosen and what room is left', () => {
      const action = planCluster(
        state({
          containerInstances: [ci(1, use(1024, 2048)), ci(2, use(256, 512)), ci(3, use(512, 256))],
        }),
        [use(512, 256)],
      );

      expect(action.reason).to.equal(
        'the 1 task(s) of i-3 (least reserved memory) fit on the other instances with 512 CPU units and 1024 MiB left',
      );
    });
  });

  describe('buffers', () => {
    it('does not scale up while one instance keeps both buffers, however full the others are', () => {
      const action = planCluster(
        state({ containerInstances: [ci(1, use(2048, 4096)), ci(2, use(0, 0))] }),
      );

      expect(action.kind).to.equal('none');
    });

    it('counts an instance with exactly the buffers free as keeping them', () => {
      // 2048 − 1536 = 512 CPU units and 4096 − 3072 = 1024 MiB free: exactly the buffers.
      const action = planCluster(state({ containerInstances: [ci(1, use(1536, 3072))] }));

      expect(action.kind).to.equal('none');
      expect(action.reason).to.not.match(/keeps/);
    });

    it('scales up when an instance is one CPU unit or one MiB short of the buffers', () => {
      const cpuShort = planCluster(state({ containerInstances: [ci(1, use(1537, 3072))] }));
      const memShort = planCluster(state({ containerInstances: [ci(1, use(1536, 3073))] }));

      expect(cpuShort.kind).to.equal('scale-up');
      expect(memShort.kind).to.equal('scale-up');
    });
  });

  it('has no scale-in candidate with a single ACTIVE instance', () => {
    expect(scaleInCandidate(state({ containerInstances: [ci(1, use(0, 0))] }))).to.equal(undefined);
  });

  it('places the largest task first, so tasks that fit together are not refused', () => {
    // Listed small first: first fit in that order would put the 1500 MiB task on the 3000 MiB
    // instance and leave the 2500 MiB one nowhere to go.
    const byMemory = place([use(1000, 3000), use(1000, 2000)], [use(10, 1500), use(10, 2500)]);
    expect(byMemory.unplaced).to.equal(0);
    expect(byMemory.left).to.deep.equal([use(990, 500), use(990, 500)]);

    // Same memory: the larger CPU first.
    const byCpu = place([use(1500, 1000), use(1000, 1000)], [use(1000, 500), use(1500, 500)]);
    expect(byCpu.unplaced).to.equal(0);
    expect(byCpu.left).to.deep.equal([use(0, 500), use(0, 500)]);
  });

  it('does not scale up for additions that fit when placed largest first', () => {
    const action = planCluster(
      state({
        containerInstances: [ci(1, use(0, 1096)), ci(2, use(0, 2096))],
        cpuBuffer: 0,
        memBuffer: 0,
        additions: [use(10, 1500), use(10, 2500)],
      }),
    );

    expect(action.kind).to.not.equal('scale-up');
  });

  it('places tasks first fit, largest memory first', () => {
    const { left, unplaced } = place(
      [use(1000, 1000), use(1000, 3000)],
      [use(100, 900), use(100, 2500)],
    );

    expect(unplaced).to.equal(0);
    expect(left).to.deep.equal([use(900, 100), use(900, 500)]);
  });
});
