/**
 * What the protect function is asked to do, from its invocation event:
 *
 * - an EventBridge "Scheduled Event" or `{}`: scan the configured targets
 *   (THEMIS_TARGETS and/or tag discovery);
 * - the themis event verbatim, `{ asgName, region, metricsPort, busyURL, busyValue,
 *   idleValue, dryRun }`: scan that group;
 * - `{ targets: [ …the same objects… ] }`: scan those groups.
 *
 * Every target is validated here, before any group is touched: one bad field refuses the
 * whole invocation with a ConfigError naming it (`metricsPort`, `targets[0].busyURL`).
 */
import { ConfigError, InvalidEventError } from '../errors.js';
import { parseTargetList, type ConfiguredTarget } from './config.js';

export type ProtectRequest =
  | { kind: 'configured' }
  | {
      kind: 'explicit';
      /** `region` is resolved (the event's, or the function's own). */
      targets: ConfiguredTarget[];
    };

function isScheduledEvent(event: Record<string, unknown>): boolean {
  return event['detail-type'] === 'Scheduled Event' && event.source === 'aws.events';
}

export function parseProtectEvent(event: unknown, defaultRegion: string): ProtectRequest {
  if (event === undefined || event === null) return { kind: 'configured' };
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidEventError(
      'expected an object: {}, a scheduled event, a themis target or { targets: [...] }',
    );
  }
  const e = event as Record<string, unknown>;
  // Checked first: a scheduled event carries `region` too, which is not a target's region.
  if (isScheduledEvent(e)) return { kind: 'configured' };
  if ('detail-type' in e && 'source' in e) {
    throw new InvalidEventError(
      `unsupported EventBridge event ${JSON.stringify(String(e['detail-type']))} from ${JSON.stringify(String(e.source))}`,
    );
  }
  if (Object.keys(e).length === 0) return { kind: 'configured' };

  if ('targets' in e) {
    const extra = Object.keys(e).find((k) => k !== 'targets');
    if (extra) {
      throw new ConfigError(extra, 'unknown field next to "targets" (put it inside each target)');
    }
    if (!Array.isArray(e.targets)) throw new ConfigError('targets', 'must be an array of targets');
    if (e.targets.length === 0) throw new ConfigError('targets', 'must list at least one group');
    return {
      kind: 'explicit',
      targets: parseTargetList(e.targets, defaultRegion, (i, key) =>
        key ? `targets[${i}].${key}` : `targets[${i}]`,
      ),
    };
  }
  return {
    kind: 'explicit',
    targets: parseTargetList([e], defaultRegion, (_, key) => key ?? 'event'),
  };
}
