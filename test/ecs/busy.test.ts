import { expect } from 'chai';
import {
  classifyInstances,
  isDaemonTask,
  serviceOfTask,
  type BusyInput,
} from '../../lib/ecs/busy.js';
import type { ContainerInstance, EcsTask } from '../../lib/ports.js';

const ciArn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:container-instance/jobs/ci-${n}`;
const oldCiArn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:container-instance/ci-${n}`;

function ci(n: number, extra: Partial<ContainerInstance> = {}): ContainerInstance {
  return {
    arn: ciArn(n),
    ec2InstanceId: `i-${n}`,
    status: 'ACTIVE',
    agentConnected: true,
    registered: { cpu: 2048, memoryMb: 4096 },
    remaining: { cpu: 2048, memoryMb: 4096 },
    runningTasksCount: 0,
    pendingTasksCount: 0,
    ...extra,
  };
}

let taskCounter = 0;
function task(onInstance: number, extra: Partial<EcsTask> = {}): EcsTask {
  return {
    arn: `arn:aws:ecs:us-east-1:123456789012:task/jobs/t-${++taskCounter}`,
    group: 'service:worker',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    containerInstanceArn: ciArn(onInstance),
    ...extra,
  };
}

const DAEMONS = new Set(['log-agent']);

function classify(input: Partial<BusyInput> & Pick<BusyInput, 'ec2InstanceIds'>) {
  return classifyInstances({
    containerInstances: [],
    tasks: [],
    daemonServices: DAEMONS,
    ...input,
  });
}

describe('ecs/busy', () => {
  const cases: Array<{ name: string; tasks: EcsTask[]; expected: 'busy' | 'idle' }> = [
    { name: 'is busy with one running service task', tasks: [task(1)], expected: 'busy' },
    {
      name: 'is busy with a standalone task (RunTask, family group)',
      tasks: [task(1, { group: 'family:batch' })],
      expected: 'busy',
    },
    {
      name: 'is busy with a task that has no group',
      tasks: [task(1, { group: undefined })],
      expected: 'busy',
    },
    {
      name: 'is busy while a task is still starting (PROVISIONING, PENDING)',
      tasks: [task(1, { lastStatus: 'PROVISIONING' }), task(1, { lastStatus: 'PENDING' })],
      expected: 'busy',
    },
    {
      name: 'is busy while a task ECS is stopping has not STOPPED yet',
      tasks: [task(1, { desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' })],
      expected: 'busy',
    },
    { name: 'is idle with no tasks', tasks: [], expected: 'idle' },
    {
      name: 'is idle with only STOPPED tasks',
      tasks: [task(1, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })],
      expected: 'idle',
    },
    {
      name: 'is idle with only daemon-service tasks',
      tasks: [task(1, { group: 'service:log-agent' })],
      expected: 'idle',
    },
    {
      name: 'is busy with a daemon task and a work task',
      tasks: [task(1, { group: 'service:log-agent' }), task(1, { group: 'service:web' })],
      expected: 'busy',
    },
    {
      name: 'ignores tasks on other container instances',
      tasks: [task(2), task(3)],
      expected: 'idle',
    },
    {
      name: 'does not take a service named like a daemon with a prefix for the daemon',
      tasks: [task(1, { group: 'service:log-agent-2' })],
      expected: 'busy',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = classify({
        ec2InstanceIds: ['i-1'],
        containerInstances: [ci(1), ci(2)],
        tasks: c.tasks,
      });
      expect(result.get('i-1')!.status).to.equal(c.expected);
    });
  }

  it('is unknown when the EC2 instance is not registered in the cluster', () => {
    const result = classify({
      ec2InstanceIds: ['i-9'],
      containerInstances: [ci(1)],
      tasks: [task(1)],
    });

    expect(result.get('i-9')).to.deep.equal({
      status: 'unknown',
      reason: 'not registered in the ECS cluster',
      containerInstanceArns: [],
      workTasks: [],
    });
  });

  it('is unknown when its container instance is INACTIVE (deregistered)', () => {
    const result = classify({
      ec2InstanceIds: ['i-1'],
      containerInstances: [ci(1, { status: 'INACTIVE' })],
    });

    expect(result.get('i-1')!.status).to.equal('unknown');
  });

  it('counts a DRAINING container instance by its tasks like an ACTIVE one', () => {
    const draining = ci(1, { status: 'DRAINING' });

    expect(
      classify({ ec2InstanceIds: ['i-1'], containerInstances: [draining], tasks: [task(1)] }).get(
        'i-1',
      )!.status,
    ).to.equal('busy');
    expect(
      classify({ ec2InstanceIds: ['i-1'], containerInstances: [draining] }).get('i-1')!.status,
    ).to.equal('idle');
  });

  it('names the work tasks and the container instance', () => {
    const work = task(1, { group: 'service:web' });
    const result = classify({
      ec2InstanceIds: ['i-1'],
      containerInstances: [ci(1)],
      tasks: [work, task(1, { group: 'service:log-agent' })],
    });

    expect(result.get('i-1')).to.include({ status: 'busy' });
    expect(result.get('i-1')!.workTasks).to.deep.equal([work.arn]);
    expect(result.get('i-1')!.containerInstanceArns).to.deep.equal([ciArn(1)]);
    expect(result.get('i-1')!.reason).to.match(/^1 task running \(service:web t-\d+\)$/);
  });

  it('matches tasks to an old-format container-instance ARN by its id', () => {
    const result = classify({
      ec2InstanceIds: ['i-1'],
      containerInstances: [ci(1, { arn: oldCiArn(1) })],
      tasks: [task(1)],
    });

    expect(result.get('i-1')!.status).to.equal('busy');
  });

  it('adds up the tasks of every container instance an EC2 instance is registered as', () => {
    const result = classify({
      ec2InstanceIds: ['i-1'],
      containerInstances: [ci(1, { status: 'DEREGISTERING' }), ci(5, { ec2InstanceId: 'i-1' })],
      tasks: [task(1)],
    });

    expect(result.get('i-1')!.status).to.equal('busy');
    expect(result.get('i-1')!.containerInstanceArns).to.have.length(2);
  });

  it('reads the service from a task group', () => {
    expect(serviceOfTask({ group: 'service:web' })).to.equal('web');
    expect(serviceOfTask({ group: 'family:web' })).to.equal(undefined);
    expect(serviceOfTask({ group: 'service:' })).to.equal(undefined);
    expect(serviceOfTask({})).to.equal(undefined);
    expect(isDaemonTask({ group: 'family:log-agent' }, DAEMONS)).to.equal(false);
  });
});

// Added for the mutation run (docs/mutation.md): the reasons operators read in protect's
// report and the gate's notices, word for word. Each test names what a surviving mutant broke.
describe('ecs/busy: what an operator is told', () => {
  const reasonOf = (tasks: EcsTask[]) =>
    classify({ ec2InstanceIds: ['i-1'], containerInstances: [ci(1)], tasks }).get('i-1')!.reason;
  const id = (t: EcsTask) => t.arn.slice(t.arn.lastIndexOf('/') + 1);

  it('says an instance with nothing on it has no tasks running', () => {
    expect(reasonOf([])).to.equal('no tasks running');
  });

  it('says an idle instance still runs its daemon tasks, counting only those not stopped', () => {
    const daemon = (extra: Partial<EcsTask> = {}) =>
      task(1, { group: 'service:log-agent', ...extra });
    expect(reasonOf([daemon()])).to.equal('no tasks running but 1 daemon task');
    expect(reasonOf([daemon(), daemon(), daemon({ lastStatus: 'STOPPED' })])).to.equal(
      'no tasks running but 2 daemon tasks',
    );
  });

  it('does not count a stopped daemon task', () => {
    const stopped = task(1, { group: 'service:log-agent', lastStatus: 'STOPPED' });
    expect(reasonOf([stopped])).to.equal('no tasks running');
  });

  it('names the tasks that keep an instance busy, by group and id', () => {
    const a = task(1);
    const b = task(1, { group: undefined });
    expect(reasonOf([a])).to.equal(`1 task running (service:worker ${id(a)})`);
    expect(reasonOf([a, b])).to.equal(`2 tasks running (service:worker ${id(a)}, ? ${id(b)})`);
  });

  it('names three tasks at most, and counts the rest', () => {
    const tasks = [task(1), task(1), task(1), task(1), task(1)];
    expect(reasonOf(tasks.slice(0, 3))).to.equal(
      `3 tasks running (${tasks
        .slice(0, 3)
        .map((t) => `service:worker ${id(t)}`)
        .join(', ')})`,
    );
    expect(reasonOf(tasks)).to.match(/^5 tasks running \(.*, .*, [^,]*\+2 more\)$/);
  });

  it('ignores a task that is on no container instance (not yet placed)', () => {
    const unplaced = task(1, { containerInstanceArn: undefined });
    expect(
      classify({ ec2InstanceIds: ['i-1'], containerInstances: [ci(1)], tasks: [unplaced] }).get(
        'i-1',
      ),
    ).to.include({
      status: 'idle',
    });
  });
});
