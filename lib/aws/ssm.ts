/**
 * The pre-termination command, through SSM Run Command.
 *
 * The SSM SDK is loaded on first use (a dynamic import), not when the gate starts: most
 * stacks configure no command, and their cold starts should not pay for a client they
 * never call. The port itself always exists, because a command already in flight is still
 * followed (and cancelled) after its document setting was removed.
 */
import type * as SsmSdk from '@aws-sdk/client-ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorName, UpstreamError } from '../errors.js';
import type { CallOptions, CommandState, RemoteCommands } from '../ports.js';
import { sendUnder } from './util.js';

let sdk: Promise<typeof SsmSdk> | undefined;

/** The SSM SDK module, imported once, on first use. */
export function loadSsmSdk(): Promise<typeof SsmSdk> {
  sdk ??= import('@aws-sdk/client-ssm').catch((err: unknown) => {
    sdk = undefined;
    throw err;
  });
  return sdk;
}

/** An SSM client, or how to build it on first use (see createAwsClients). */
export type SsmClientSource = SSMClient | (() => Promise<SSMClient>);

/** SendCommand's TimeoutSeconds bounds (time allowed for the command to *start*). */
const MIN_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 30 * 24 * 3600;
/** How much standard error goes into a failure's detail (it ends up in logs and SNS). */
export const STDERR_SNIPPET_CHARS = 300;

const PENDING = new Set(['Pending', 'InProgress', 'Delayed']);

export class SsmCommands implements RemoteCommands {
  constructor(private readonly source: SsmClientSource) {}

  /** The client and the command classes; loading them fails like a call would. */
  private async sdk(): Promise<{ client: SSMClient; ssm: typeof SsmSdk }> {
    const ssm = await loadSsmSdk();
    const client = typeof this.source === 'function' ? await this.source() : this.source;
    return { client, ssm };
  }

  async documentExists(documentName: string, opts?: CallOptions): Promise<boolean> {
    try {
      const { client, ssm } = await this.sdk();
      await sendUnder(opts, (o) =>
        client.send(new ssm.DescribeDocumentCommand({ Name: documentName }), o),
      );
      return true;
    } catch (cause) {
      if (awsErrorName(cause) === 'InvalidDocument') return false;
      throw new UpstreamError(`DescribeDocument ${documentName}`, { cause });
    }
  }

  async isManaged(instanceId: string, opts?: CallOptions): Promise<boolean> {
    try {
      const { client, ssm } = await this.sdk();
      const out = await sendUnder(opts, (o) =>
        client.send(
          new ssm.DescribeInstanceInformationCommand({
            Filters: [{ Key: 'InstanceIds', Values: [instanceId] }],
          }),
          o,
        ),
      );
      return (out.InstanceInformationList ?? []).some(
        (info) => info.InstanceId === instanceId && info.PingStatus === 'Online',
      );
    } catch (cause) {
      // "Not registered with SSM" is an answer about the instance, not a failure.
      if (awsErrorName(cause) === 'InvalidInstanceId') return false;
      throw new UpstreamError(`DescribeInstanceInformation ${instanceId}`, { cause });
    }
  }

  async send(
    instanceId: string,
    documentName: string,
    parameters: Record<string, string[]>,
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<string> {
    const operation = `SendCommand ${documentName} ${instanceId}`;
    let commandId: string | undefined;
    try {
      const { client, ssm } = await this.sdk();
      const out = await sendUnder(opts, (o) =>
        client.send(
          new ssm.SendCommandCommand({
            DocumentName: documentName,
            InstanceIds: [instanceId],
            Parameters: parameters,
            TimeoutSeconds: Math.min(
              MAX_TIMEOUT_SECONDS,
              Math.max(MIN_TIMEOUT_SECONDS, Math.ceil(timeoutSeconds)),
            ),
          }),
          o,
        ),
      );
      commandId = out.Command?.CommandId;
    } catch (cause) {
      throw new UpstreamError(operation, { cause });
    }
    if (!commandId) {
      throw new UpstreamError(operation, { cause: new Error('the answer carries no CommandId') });
    }
    return commandId;
  }

  async status(
    commandId: string,
    instanceId: string,
    opts?: CallOptions,
  ): Promise<{ state: CommandState; detail?: string }> {
    try {
      const { client, ssm } = await this.sdk();
      const out = await sendUnder(opts, (o) =>
        client.send(
          new ssm.GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
          o,
        ),
      );
      return toState(out.Status, out.StatusDetails, out.StandardErrorContent);
    } catch (cause) {
      // For a moment after SendCommand the invocation does not exist yet.
      if (awsErrorName(cause) === 'InvocationDoesNotExist') {
        return { state: 'pending', detail: 'invocation not registered yet' };
      }
      throw new UpstreamError(`GetCommandInvocation ${commandId} ${instanceId}`, { cause });
    }
  }

  async cancel(commandId: string, instanceId: string, opts?: CallOptions): Promise<void> {
    try {
      const { client, ssm } = await this.sdk();
      await sendUnder(opts, (o) =>
        client.send(
          new ssm.CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }),
          o,
        ),
      );
    } catch (cause) {
      throw new UpstreamError(`CancelCommand ${commandId} ${instanceId}`, { cause });
    }
  }
}

/**
 * Pending/InProgress/Delayed are still running; Success is done; everything else —
 * Cancelled, Cancelling, TimedOut, Failed, and any status SSM adds later — is a failure,
 * so the gate never waits on a state it cannot read.
 */
function toState(
  status: string | undefined,
  statusDetails: string | undefined,
  stderr: string | undefined,
): { state: CommandState; detail?: string } {
  if (status && PENDING.has(status)) return { state: 'pending', detail: status };
  if (status === 'Success') return { state: 'success' };
  const parts = [`${status ?? 'no status'}${statusDetails ? ` (${statusDetails})` : ''}`];
  const snippet = stderr?.trim();
  if (snippet) {
    const cut = snippet.length > STDERR_SNIPPET_CHARS;
    parts.push(`stderr: ${snippet.slice(0, STDERR_SNIPPET_CHARS)}${cut ? '…' : ''}`);
  }
  return { state: 'failed', detail: parts.join('; ') };
}
