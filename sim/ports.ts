/**
 * The role interfaces of lib/ports.ts, answered by the simulated world. Each method does what
 * the matching SDK adapter in lib/aws does — same chunking, same mapping of AWS answers:
 * failures become UpstreamError with the simulated AWS error as `cause`, "No active
 * Lifecycle Action found" becomes 'gone', a missing hook or document becomes
 * undefined/false — so lib/protect and lib/gate cannot tell the simulator from AWS.
 *
 * Every operation is counted in `world.calls` and may be throttled or fail (faults.ts).
 * A PortContext ties the ports to one gate step: its instance (so notices and rechecks are
 * attributed to the chain they belong to) and a guard that can kill the step mid-way.
 */
import { clampDelaySeconds } from '../lib/aws/sqs.js';
import {
  UpstreamError,
  awsErrorName,
  errorMessage,
  isNoActiveLifecycleAction,
  isValidationError,
} from '../lib/errors.js';
import type {
  CommandState,
  GroupDirectory,
  GroupSnapshot,
  HookInfo,
  InstanceAddresses,
  InstanceProtection,
  LifecycleActionRef,
  LifecycleActions,
  LifecycleResult,
  Notice,
  Notifications,
  ProbeStatus,
  Rechecks,
  RemoteCommands,
} from '../lib/ports.js';
import type { ApiCalls, ApiName } from './api-calls.js';
import { SimAwsError } from './aws-error.js';
import { SDK_MAX_ATTEMPTS, type FaultRates } from './faults.js';
import type { Fleet } from './fleet.js';
import type { Journal } from './journal.js';
import type { Random } from './random.js';
import type { DeliveryChannel, PublishedNotice, SimCommands } from './services.js';

/** As the SDK adapters chunk their requests (lib/aws/auto-scaling.ts, lib/aws/ec2.ts). */
const GROUP_NAMES_PER_CALL = 100;
const INSTANCE_IDS_PER_CALL = 200;

export interface ProbeRecord {
  at: number;
  status: ProbeStatus;
}

export interface Unprotection {
  at: number;
  instanceId: string;
  /** The instance's most recent probe before the call (by protect or the gate). */
  lastProbe?: ProbeRecord;
}

/** What the ports need from the simulation. */
export interface SimWorld {
  readonly fleet: Fleet;
  readonly calls: ApiCalls;
  readonly faults: FaultRates;
  /** The stream fault draws come from. */
  readonly faultRandom: Random;
  readonly journal: Journal;
  readonly topic: { published: PublishedNotice[] };
  readonly recheckQueue: DeliveryChannel<string>;
  readonly commands: SimCommands;
  readonly lastProbe: Map<string, ProbeRecord>;
  readonly unprotections: Unprotection[];
  now(): number;
}

export interface CallGuard {
  /** Before an external call; throws if the process is already dead. */
  before(api: string): void;
  /** After it took effect; throws if the process dies now. */
  after(api: string): void;
}

export interface PortContext {
  instanceId?: string;
  guard?: CallGuard;
}

export interface SimPorts {
  groups: GroupDirectory;
  addresses: InstanceAddresses;
  protection: InstanceProtection;
  lifecycle: LifecycleActions;
  notifications: Notifications;
  rechecks: Rechecks;
  commands: RemoteCommands;
}

/** The error name each service uses when it throttles. */
const THROTTLE_NAME: Record<string, string> = {
  autoscaling: 'Throttling',
  ec2: 'RequestLimitExceeded',
  sns: 'Throttled',
  sqs: 'ThrottlingException',
  ssm: 'ThrottlingException',
};

const SERVICE: Record<ApiName, keyof typeof THROTTLE_NAME> = {
  DescribeAutoScalingGroups: 'autoscaling',
  SetInstanceProtection: 'autoscaling',
  RecordLifecycleActionHeartbeat: 'autoscaling',
  CompleteLifecycleAction: 'autoscaling',
  DescribeLifecycleHooks: 'autoscaling',
  DescribeInstances: 'ec2',
  Publish: 'sns',
  SendMessage: 'sqs',
  DescribeDocument: 'ssm',
  DescribeInstanceInformation: 'ssm',
  SendCommand: 'ssm',
  GetCommandInvocation: 'ssm',
};

export function createSimPorts(world: SimWorld, ctx: PortContext = {}): SimPorts {
  const { fleet } = world;

  /**
   * One AWS operation: counted, possibly throttled on every attempt (the SDK retries), then
   * possibly failed by an injected fault, then carried out. Failures are wrapped like the
   * adapters wrap them. The guard runs after the operation took effect.
   */
  async function call<T>(api: ApiName, operation: string, run: () => T, failRate = 0): Promise<T> {
    ctx.guard?.before(api);
    world.calls.call(api);
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      let through = false;
      for (let attempt = 1; attempt <= SDK_MAX_ATTEMPTS && !through; attempt++) {
        world.calls.attempt(api);
        through = !world.faultRandom.chance(world.faults.throttle);
      }
      if (!through) throw new SimAwsError(THROTTLE_NAME[SERVICE[api]]!, 'Rate exceeded');
      if (world.faultRandom.chance(failRate)) {
        throw new SimAwsError('InternalError', `simulated ${api} failure`, 'server');
      }
      outcome = { ok: true, value: run() };
    } catch (cause) {
      world.calls.failure(api);
      outcome = { ok: false, error: new UpstreamError(operation, { cause }) };
    }
    ctx.guard?.after(api);
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  const groups: GroupDirectory = {
    async describeGroups(names) {
      const unique = [...new Set(names)];
      const out: GroupSnapshot[] = [];
      for (let i = 0; i < unique.length; i += GROUP_NAMES_PER_CALL) {
        const batch = unique.slice(i, i + GROUP_NAMES_PER_CALL);
        out.push(
          ...(await call(
            'DescribeAutoScalingGroups',
            `DescribeAutoScalingGroups ${batch.join(',')}`,
            () => fleet.describeGroups(batch),
          )),
        );
      }
      return out;
    },
    findGroupsByTag(key, value) {
      return call(
        'DescribeAutoScalingGroups',
        `DescribeAutoScalingGroups tag:${key}=${value}`,
        () => fleet.findGroupsByTag(key, value),
      );
    },
  };

  const addresses: InstanceAddresses = {
    async privateAddresses(instanceIds) {
      const unique = [...new Set(instanceIds)];
      const out = new Map<string, string>();
      for (let i = 0; i < unique.length; i += INSTANCE_IDS_PER_CALL) {
        const batch = unique.slice(i, i + INSTANCE_IDS_PER_CALL);
        const found = await call('DescribeInstances', `DescribeInstances ${batch.length} ids`, () =>
          fleet.privateAddresses(batch),
        );
        for (const [id, address] of found) out.set(id, address);
      }
      return out;
    },
  };

  const protection: InstanceProtection = {
    async setInstanceProtection(groupName, instanceIds, protect) {
      if (instanceIds.length === 0) return;
      const lastProbes = protect ? [] : instanceIds.map((id) => world.lastProbe.get(id));
      await call(
        'SetInstanceProtection',
        `SetInstanceProtection ${protect ? 'on' : 'off'} ${groupName}`,
        () => fleet.setInstanceProtection(groupName, instanceIds, protect),
      );
      instanceIds.forEach((instanceId, i) => {
        const lastProbe = lastProbes[i];
        if (!protect)
          world.unprotections.push({
            at: world.now(),
            instanceId,
            ...(lastProbe ? { lastProbe } : {}),
          });
      });
    },
  };

  const lifecycle: LifecycleActions = {
    async recordHeartbeat(action: LifecycleActionRef) {
      try {
        await call(
          'RecordLifecycleActionHeartbeat',
          `RecordLifecycleActionHeartbeat ${action.instanceId}`,
          () => fleet.recordLifecycleActionHeartbeat(action),
        );
        return 'recorded';
      } catch (err) {
        if (isNoActiveLifecycleAction(err)) return 'gone';
        throw err;
      }
    },
    async complete(action: LifecycleActionRef, result: LifecycleResult) {
      try {
        await call(
          'CompleteLifecycleAction',
          `CompleteLifecycleAction ${result} ${action.instanceId}`,
          () => fleet.completeLifecycleAction(action, result),
        );
        return 'completed';
      } catch (err) {
        if (isNoActiveLifecycleAction(err)) return 'gone';
        throw err;
      }
    },
    async describeHook(groupName, hookName): Promise<HookInfo | undefined> {
      try {
        return await call(
          'DescribeLifecycleHooks',
          `DescribeLifecycleHooks ${groupName}/${hookName}`,
          () => fleet.describeLifecycleHook(groupName, hookName),
        );
      } catch (err) {
        // A deleted group takes its hooks with it (as the adapter reads it).
        if (isValidationError(err) && /not found/i.test(errorMessage(err))) return undefined;
        throw err;
      }
    },
  };

  const notifications: Notifications = {
    async publish(notice: Notice) {
      const record: PublishedNotice = {
        at: world.now(),
        notice,
        delivered: false,
        ...(ctx.instanceId ? { instanceId: ctx.instanceId } : {}),
      };
      world.topic.published.push(record);
      await call(
        'Publish',
        `Publish "${notice.subject}"`,
        () => undefined,
        world.faults.publishFailure,
      );
      record.delivered = true;
      world.journal.add('notice', notice.subject, {
        ...(ctx.instanceId ? { instanceId: ctx.instanceId } : {}),
        ...(notice.attributes.group ? { group: notice.attributes.group } : {}),
        data: { event: notice.attributes.event },
      });
    },
  };

  const rechecks: Rechecks = {
    async schedule(body, delaySeconds) {
      const delay = clampDelaySeconds(delaySeconds);
      await call(
        'SendMessage',
        `SendMessage (delay ${delay} s)`,
        () => world.recheckQueue.send(body, delay * 1000, ctx.instanceId),
        world.faults.sendMessageFailure,
      );
    },
  };

  const commands: RemoteCommands = {
    async documentExists(documentName) {
      try {
        return await call('DescribeDocument', `DescribeDocument ${documentName}`, () => {
          if (!world.commands.documentExists(documentName)) {
            throw new SimAwsError('InvalidDocument', `Document ${documentName} does not exist`);
          }
          return true;
        });
      } catch (err) {
        if (awsErrorName(err) === 'InvalidDocument') return false;
        throw err;
      }
    },
    isManaged(instanceId) {
      return call('DescribeInstanceInformation', `DescribeInstanceInformation ${instanceId}`, () =>
        world.commands.isManaged(instanceId),
      );
    },
    send(instanceId, documentName, _parameters, timeoutSeconds) {
      return call('SendCommand', `SendCommand ${documentName} ${instanceId}`, () =>
        world.commands.send(instanceId, documentName, timeoutSeconds),
      );
    },
    async status(commandId, instanceId): Promise<{ state: CommandState; detail?: string }> {
      try {
        return await call(
          'GetCommandInvocation',
          `GetCommandInvocation ${commandId} ${instanceId}`,
          () => world.commands.status(commandId, instanceId),
        );
      } catch (err) {
        // As the adapter reads it: just after SendCommand the invocation may not exist yet.
        if (awsErrorName(err) === 'InvocationDoesNotExist') {
          return { state: 'pending', detail: 'invocation not registered yet' };
        }
        throw err;
      }
    },
    // Added for the gate's CancelCommand: the simulated command runs to its own end (one past
    // its limit reports TimedOut anyway), so cancelling changes nothing here.
    async cancel() {},
  };

  return { groups, addresses, protection, lifecycle, notifications, rechecks, commands };
}
