/**
 * Turn a request (event) and the function's configuration into fully resolved targets:
 *
 *   defaults < THEMIS_* variables < the THEMIS_TARGETS entry < the group's tags < the event
 *
 * A group whose tags hold a bad value becomes a 'config-error' report naming the tag; it is
 * left untouched and the other groups go ahead. Discovery lists every group tagged
 * themis:enabled=true in the function's region; a group tagged anything else is never
 * discovered (naming it explicitly still scans it: that is the operator's choice).
 */
import {
  ENABLED_TAG,
  mergeSettings,
  parseSettingsFromTags,
  type Target,
  type TargetSettings,
} from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { GroupDirectory, GroupSnapshot, Log } from '../ports.js';
import type { ConfiguredTarget, ProtectConfig } from './config.js';
import type { ProtectRequest } from './event.js';
import { unscannedReport, type GroupReport } from './scan.js';

export type ResolvedTarget =
  /** `listing`: the group as resolution just read it (absent when it does not exist). */
  | { target: Target; listing?: GroupSnapshot; report?: never }
  | { report: GroupReport; target?: never; listing?: never };

interface Spec {
  asgName: string;
  region: string;
  entry?: Partial<TargetSettings>;
  event?: Partial<TargetSettings>;
}

const keyOf = (t: { asgName: string; region: string }) => `${t.region}/${t.asgName}`;

function sameGroup(a: ConfiguredTarget, b: ConfiguredTarget): boolean {
  return a.asgName === b.asgName && a.region === b.region;
}

export async function resolveTargets(
  request: ProtectRequest,
  config: ProtectConfig,
  directoryFor: (region: string) => GroupDirectory,
  log: Log,
): Promise<ResolvedTarget[]> {
  const specs: Spec[] = [];
  // Every group listing read here (discovery or the tags lookup) is kept: the first scan
  // uses it instead of describing the group again.
  const listings = new Map<string, GroupSnapshot>();

  if (request.kind === 'explicit') {
    for (const t of request.targets) {
      const entry = config.targets.find((c) => sameGroup(c, t));
      specs.push({
        asgName: t.asgName,
        region: t.region,
        entry: entry?.settings,
        event: t.settings,
      });
    }
  } else {
    for (const t of config.targets) {
      specs.push({ asgName: t.asgName, region: t.region, entry: t.settings });
    }
    if (config.tagDiscovery) {
      try {
        const found = await directoryFor(config.region).findGroupsByTag(ENABLED_TAG, 'true');
        for (const g of [...found].sort((a, b) => a.name.localeCompare(b.name))) {
          const spec = { asgName: g.name, region: config.region };
          listings.set(keyOf(spec), g);
          if (!specs.some((s) => keyOf(s) === keyOf(spec))) specs.push(spec);
        }
        log.info('tag discovery', { region: config.region, tag: ENABLED_TAG, found: found.length });
      } catch (err) {
        log.error('tag discovery failed', { region: config.region, reason: errorMessage(err) });
        // With nothing else to scan the invocation achieved nothing: fail it visibly.
        if (specs.length === 0) throw err;
      }
    }
  }

  const failedLookups = new Map<string, string>();
  const regions = [...new Set(specs.map((s) => s.region))];
  await Promise.all(
    regions.map(async (region) => {
      const names = specs
        .filter((s) => s.region === region && !listings.has(keyOf(s)))
        .map((s) => s.asgName);
      if (names.length === 0) return;
      try {
        for (const g of await directoryFor(region).describeGroups(names)) {
          listings.set(keyOf({ asgName: g.name, region }), g);
        }
      } catch (err) {
        for (const asgName of names)
          failedLookups.set(keyOf({ asgName, region }), errorMessage(err));
      }
    }),
  );

  return specs.map((spec): ResolvedTarget => {
    const lookupError = failedLookups.get(keyOf(spec));
    if (lookupError) {
      return {
        report: unscannedReport(spec, 'failed', `cannot read the group's tags: ${lookupError}`),
      };
    }
    let fromTags: Partial<TargetSettings>;
    try {
      // A group that does not exist has no tags; scanTarget reports it as not-found.
      fromTags = parseSettingsFromTags(listings.get(keyOf(spec))?.tags ?? {});
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error('group left untouched: bad tag', {
        group: spec.asgName,
        region: spec.region,
        field: err.field,
        reason: err.message,
      });
      return { report: unscannedReport(spec, 'config-error', err.message, err.field) };
    }
    const settings = mergeSettings(config.settings, spec.entry ?? {}, fromTags, spec.event ?? {});
    const listing = listings.get(keyOf(spec));
    return {
      target: { asgName: spec.asgName, region: spec.region, ...settings },
      ...(listing ? { listing } : {}),
    };
  });
}
