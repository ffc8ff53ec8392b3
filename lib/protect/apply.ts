/**
 * Carry out a protection plan over the InstanceProtection port (the SDK adapter in Lambda,
 * the fleet simulator in property tests — the same code either way).
 *
 * - Only changes are sent; nothing to change means no call at all.
 * - At most MAX_PROTECTION_BATCH ids per SetInstanceProtection call.
 * - A batch rejected with ValidationError (typically one instance left InService between
 *   the listing and the call) is retried one instance at a time, so one bad id does not
 *   cost the other 49 their change; the ones still rejected are reported.
 * - Any other failure of a batch (throttling is already retried inside the SDK) marks that
 *   batch's instances failed and the remaining batches still run: the next scan retries.
 * - Protections go out before removals: if scale-in strikes between the calls, the busy
 *   instances are already safe, and idle ones still protected for a moment cost nothing.
 */
import { chunk } from '../collections.js';
import { awsErrorName, errorMessage, isValidationError } from '../errors.js';
import { MAX_PROTECTION_BATCH, type InstanceProtection, type Log } from '../ports.js';

export interface ProtectionChanges {
  protect: readonly string[];
  unprotect: readonly string[];
}

export interface FailedChange {
  instanceId: string;
  action: 'protect' | 'unprotect';
  reason: string;
}

export interface ApplyOutcome {
  /** Ids whose protection was set. */
  protected: string[];
  /** Ids whose protection was removed. */
  unprotected: string[];
  failed: FailedChange[];
  /** SetInstanceProtection calls made (batches plus one-by-one retries). */
  calls: number;
}

function describeError(err: unknown): string {
  const name = awsErrorName(err);
  const message = errorMessage(err);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
}

export async function applyProtection(
  groupName: string,
  changes: ProtectionChanges,
  protection: InstanceProtection,
  log: Log,
): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { protected: [], unprotected: [], failed: [], calls: 0 };

  const send = async (ids: string[], protect: boolean): Promise<void> => {
    outcome.calls += 1;
    await protection.setInstanceProtection(groupName, ids, protect);
  };

  const run = async (ids: readonly string[], action: 'protect' | 'unprotect') => {
    const done = action === 'protect' ? outcome.protected : outcome.unprotected;
    const fail = (instanceId: string, err: unknown) => {
      const reason = describeError(err);
      outcome.failed.push({ instanceId, action, reason });
      log.warn('protection change failed', {
        instanceId,
        group: groupName,
        decision: action,
        reason,
      });
    };
    for (const batch of chunk(ids, MAX_PROTECTION_BATCH)) {
      try {
        await send(batch, action === 'protect');
        done.push(...batch);
      } catch (err) {
        if (!isValidationError(err) || batch.length === 1) {
          for (const id of batch) fail(id, err);
          continue;
        }
        log.info('batch rejected, retrying one instance at a time', {
          group: groupName,
          decision: action,
          count: batch.length,
          reason: describeError(err),
        });
        for (const id of batch) {
          try {
            await send([id], action === 'protect');
            done.push(id);
          } catch (one) {
            fail(id, one);
          }
        }
      }
    }
  };

  await run(changes.protect, 'protect');
  await run(changes.unprotect, 'unprotect');
  return outcome;
}
