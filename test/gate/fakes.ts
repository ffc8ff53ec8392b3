/**
 * In-memory stand-ins for the ports the gate uses. They keep state and record calls; every
 * decision under test is made by lib/gate. Probes are never faked: tests point the real
 * HTTP prober at loopback workers (test/helpers/http-workers.ts).
 */
import { UpstreamError } from '../../lib/errors.js';
import { parseGateEnv, type GateConfig } from '../../lib/gate/config.js';
import type { GateDeps } from '../../lib/gate/step.js';
import { createRecordingLog } from '../../lib/log.js';
import type {
  CommandState,
  GroupDirectory,
  GroupSnapshot,
  HookInfo,
  InstanceAddresses,
  LifecycleActionRef,
  LifecycleActions,
  LifecycleResult,
  Notice,
  Notifications,
  Rechecks,
  RemoteCommands,
} from '../../lib/ports.js';
import { createHttpProber } from '../../lib/probe.js';
import { lifecycleEvent } from '../helpers/events.js';

export const GROUP = 'Electric-Ziggurat';
export const HOOK = 'themis';
export const INSTANCE = 'i-0abc1234def567890';
export const TOKEN = 'c613620e-07e2-4ed2-a9e2-ef8258911ade';
export const QUEUE_URL = 'http://127.0.0.1:1/123456789012/themis-rechecks';
export const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:themis-outcomes';

/** An AWS-shaped error wrapped the way the adapters wrap SDK failures. */
export function awsError(name: string, message: string, operation: string): UpstreamError {
  return new UpstreamError(operation, { cause: Object.assign(new Error(message), { name }) });
}

export class FakeLifecycle implements LifecycleActions {
  readonly heartbeats: LifecycleActionRef[] = [];
  readonly completions: { ref: LifecycleActionRef; result: LifecycleResult }[] = [];
  readonly hooks = new Map<string, HookInfo>();
  /** The action has ended elsewhere: heartbeat and complete answer 'gone'. */
  ended = false;
  failHeartbeat?: Error;
  /** Heartbeat failures for one instance only. */
  readonly failHeartbeatFor = new Map<string, Error>();
  failComplete?: Error;
  /** DescribeLifecycleHooks never answers (a hung connection). */
  hangDescribe = false;
  describeCalls = 0;

  constructor(heartbeatTimeoutSeconds = 300) {
    this.addHook(GROUP, HOOK, heartbeatTimeoutSeconds);
  }

  addHook(groupName: string, hookName: string, heartbeatTimeoutSeconds: number): this {
    this.hooks.set(`${groupName}/${hookName}`, {
      groupName,
      hookName,
      transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      heartbeatTimeoutSeconds,
      globalTimeoutSeconds: Math.min(172_800, 100 * heartbeatTimeoutSeconds),
      defaultResult: 'CONTINUE',
    });
    return this;
  }

  async recordHeartbeat(ref: LifecycleActionRef): Promise<'recorded' | 'gone'> {
    this.heartbeats.push({ ...ref });
    if (this.failHeartbeat) throw this.failHeartbeat;
    const failure = this.failHeartbeatFor.get(ref.instanceId);
    if (failure) throw failure;
    return this.ended ? 'gone' : 'recorded';
  }

  async complete(ref: LifecycleActionRef, result: LifecycleResult): Promise<'completed' | 'gone'> {
    this.completions.push({ ref: { ...ref }, result });
    if (this.failComplete) throw this.failComplete;
    if (this.ended) return 'gone';
    // Like Auto Scaling: once completed, the action is no longer active.
    this.ended = true;
    return 'completed';
  }

  async describeHook(groupName: string, hookName: string): Promise<HookInfo | undefined> {
    this.describeCalls++;
    if (this.hangDescribe) return new Promise(() => {});
    return this.hooks.get(`${groupName}/${hookName}`);
  }
}

export class FakeGroups implements GroupDirectory, InstanceAddresses {
  readonly tags = new Map<string, Record<string, string>>([[GROUP, {}]]);
  readonly addresses = new Map<string, string>();
  readonly describeCalls: string[][] = [];
  /** DescribeAutoScalingGroups fails (an Auto Scaling outage). */
  fail?: Error;

  async describeGroups(names: string[]): Promise<GroupSnapshot[]> {
    this.describeCalls.push([...names]);
    if (this.fail) throw this.fail;
    return names
      .filter((n) => this.tags.has(n))
      .map((name) => ({ name, instances: [], tags: { ...this.tags.get(name) } }));
  }

  async findGroupsByTag(): Promise<GroupSnapshot[]> {
    throw new Error('the gate never searches groups by tag');
  }

  async privateAddresses(instanceIds: string[]): Promise<Map<string, string>> {
    return new Map(
      instanceIds.flatMap((id) => {
        const address = this.addresses.get(id);
        return address ? [[id, address] as [string, string]] : [];
      }),
    );
  }
}

export class FakeRechecks implements Rechecks {
  readonly scheduled: { body: string; delaySeconds: number }[] = [];
  fail?: Error;
  /** The message reaches the queue, and then the call fails anyway (an answer lost on the way back). */
  failAfterSending?: Error;

  async schedule(body: string, delaySeconds: number): Promise<void> {
    if (this.fail) throw this.fail;
    this.scheduled.push({ body, delaySeconds });
    if (this.failAfterSending) throw this.failAfterSending;
  }

  /** The last recheck, parsed (what the queue would deliver). */
  last(): Record<string, unknown> {
    const last = this.scheduled.at(-1);
    if (!last) throw new Error('no recheck was scheduled');
    return JSON.parse(last.body) as Record<string, unknown>;
  }
}

export class FakeNotifications implements Notifications {
  readonly published: Notice[] = [];
  fail?: Error;
  /** Publish never answers (SNS unreachable, a connection that hangs). */
  hang = false;
  attempts = 0;

  async publish(notice: Notice): Promise<void> {
    this.attempts++;
    if (this.hang) return new Promise(() => {});
    if (this.fail) throw this.fail;
    this.published.push(notice);
  }

  events(): string[] {
    return this.published.map((n) => n.attributes.event ?? '');
  }
}

export class FakeCommands implements RemoteCommands {
  readonly documents = new Set<string>(['AWS-RunShellScript']);
  readonly managed = new Set<string>([INSTANCE]);
  readonly sent: {
    instanceId: string;
    documentName: string;
    parameters: Record<string, string[]>;
    timeoutSeconds: number;
  }[] = [];
  readonly statusCalls: string[] = [];
  readonly cancelled: { commandId: string; instanceId: string }[] = [];
  state: CommandState = 'pending';
  detail?: string;

  async documentExists(name: string): Promise<boolean> {
    return this.documents.has(name);
  }

  async isManaged(instanceId: string): Promise<boolean> {
    return this.managed.has(instanceId);
  }

  async send(
    instanceId: string,
    documentName: string,
    parameters: Record<string, string[]>,
    timeoutSeconds: number,
  ): Promise<string> {
    this.sent.push({ instanceId, documentName, parameters, timeoutSeconds });
    return `cmd-${this.sent.length}`;
  }

  async status(commandId: string): Promise<{ state: CommandState; detail?: string }> {
    this.statusCalls.push(commandId);
    return { state: this.state, ...(this.detail ? { detail: this.detail } : {}) };
  }

  async cancel(commandId: string, instanceId: string): Promise<void> {
    this.cancelled.push({ commandId, instanceId });
  }
}

/** The recheck body a first busy step at the fake clock's start sends for terminateEvent(). */
export function firstRecheck(
  hook = { heartbeatTimeoutSeconds: 300, globalTimeoutSeconds: 30_000 },
  changes: Record<string, unknown> = {},
) {
  return {
    themis: 'recheck',
    v: 2,
    action: {
      groupName: GROUP,
      hookName: HOOK,
      instanceId: INSTANCE,
      token: TOKEN,
      transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    },
    firstSeen: '2024-05-01T12:00:00.000Z',
    // The default margin exceeds a 300 s HeartbeatTimeout: every step heartbeats.
    lastHeartbeat: '2024-05-01T12:00:00.000Z',
    heartbeats: 1,
    attempt: 2,
    unknowns: 0,
    holdingNotified: true,
    dryRun: false,
    hook,
    ...changes,
  };
}

/** A settable clock starting at a fixed instant. */
export function fakeClock(startIso = '2024-05-01T12:00:00.000Z') {
  let now = Date.parse(startIso);
  const clock = () => now;
  return Object.assign(clock, {
    advance(seconds: number) {
      now += seconds * 1000;
    },
    set(iso: string) {
      now = Date.parse(iso);
    },
  });
}

export function gateConfig(env: Record<string, string> = {}): GateConfig {
  return parseGateEnv({ THEMIS_RECHECK_QUEUE_URL: QUEUE_URL, ...env });
}

export interface World {
  deps: GateDeps;
  lifecycle: FakeLifecycle;
  groups: FakeGroups;
  rechecks: FakeRechecks;
  notifications: FakeNotifications;
  commands: FakeCommands;
  log: ReturnType<typeof createRecordingLog>;
  clock: ReturnType<typeof fakeClock>;
}

/** Every port faked except the prober, which is the real one (loopback only). */
export function makeWorld(
  options: { env?: Record<string, string>; heartbeatTimeoutSeconds?: number; random?: number } = {},
): World {
  const lifecycle = new FakeLifecycle(options.heartbeatTimeoutSeconds);
  const groups = new FakeGroups();
  const rechecks = new FakeRechecks();
  const notifications = new FakeNotifications();
  const commands = new FakeCommands();
  const log = createRecordingLog();
  const clock = fakeClock();
  const deps: GateDeps = {
    groups,
    addresses: groups,
    lifecycle,
    notifications,
    rechecks,
    commands,
    prober: createHttpProber({ loopbackOnly: true }),
    log,
    clock,
    random: () => options.random ?? 0,
    config: gateConfig(options.env),
  };
  return { deps, lifecycle, groups, rechecks, notifications, commands, log, clock };
}

/**
 * The EventBridge event Auto Scaling emits when the hook puts an instance in Terminating:Wait,
 * for this file's group, hook, instance and token at a fixed time.
 */
export function terminateEvent(
  overrides: { time?: string; metadata?: string; instanceId?: string; transition?: string } = {},
) {
  return lifecycleEvent({
    group: GROUP,
    hook: HOOK,
    instanceId: overrides.instanceId ?? INSTANCE,
    token: TOKEN,
    time: overrides.time ?? '2024-05-01T12:00:00Z',
    metadata: overrides.metadata,
    transition: overrides.transition,
  });
}

/** The hook's own notification-target message (SQS or SNS target). */
export function hookMessage(overrides: { metadata?: string; transition?: string } = {}) {
  return {
    Origin: 'AutoScalingGroup',
    LifecycleHookName: HOOK,
    Destination: 'EC2',
    AccountId: '123456789012',
    RequestId: '4e6156f4-a9e2-4bda-a7fd-33f2ae528958',
    LifecycleTransition: overrides.transition ?? 'autoscaling:EC2_INSTANCE_TERMINATING',
    AutoScalingGroupName: GROUP,
    Service: 'AWS Auto Scaling',
    Time: '2024-05-01T11:59:30.000Z',
    EC2InstanceId: INSTANCE,
    LifecycleActionToken: TOKEN,
    ...(overrides.metadata !== undefined ? { NotificationMetadata: overrides.metadata } : {}),
  };
}

export const TEST_NOTIFICATION_MESSAGE = {
  AccountId: '123456789012',
  RequestId: '2f8a5e4c-8d2b-11e6-9a3f-0a1b2c3d4e5f',
  AutoScalingGroupARN: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/${GROUP}`,
  AutoScalingGroupName: GROUP,
  Service: 'AWS Auto Scaling',
  Event: 'autoscaling:TEST_NOTIFICATION',
  Time: '2024-05-01T11:00:00.000Z',
};

/** An SNS notification as an SQS subscription delivers it (raw delivery off). */
export function snsEnvelope(message: unknown) {
  return {
    Type: 'Notification',
    MessageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:lifecycle',
    Subject: "Auto Scaling:  Lifecycle action 'TERMINATING'",
    Message: JSON.stringify(message),
    Timestamp: '2024-05-01T11:59:30.100Z',
    SignatureVersion: '1',
  };
}

/** An SQS event as Lambda delivers it. */
export function sqsEvent(bodies: { id: string; body: string }[]) {
  return {
    Records: bodies.map(({ id, body }) => ({
      messageId: id,
      receiptHandle: `rh-${id}`,
      body,
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:themis-rechecks',
      awsRegion: 'us-east-1',
    })),
  };
}
