/**
 * Probe settings for one held instance:
 *   defaults < environment < the group's `themis:*` tags < the hook's NotificationMetadata JSON.
 *
 * Unlike the environment (checked at cold start), tags and metadata are read per step from
 * things operators edit while instances are waiting. A bad value there must not leave the
 * lifecycle action without an outcome, so each field is validated on its own: a bad field
 * is reported as a problem (logged, and notified once as an "error" event) and the lower
 * layers' value is used for that field only. The gate then still decides — with the
 * settings it can trust — and its usual rules (unknown limit, deadline) guarantee an end.
 */
import {
  mergeSettings,
  parseSettingsFromObject,
  parseSettingsFromTags,
  SETTINGS_TAGS,
  type SettingsKey,
  type TargetSettings,
} from '../config.js';
import { ConfigError } from '../errors.js';

export interface SettingProblem {
  source: 'tags' | 'metadata';
  /** The tag (`themis:metrics-port`) or metadata field (`metricsPort`) with the bad value. */
  field: string;
  /** The whole sentence, naming the field: `themis:metrics-port: must be a whole number`. */
  message: string;
}

export interface ResolvedSettings {
  settings: TargetSettings;
  problems: SettingProblem[];
}

export function resolveGateSettings(
  envLayer: Partial<TargetSettings>,
  tags: Record<string, string>,
  metadata: string | undefined,
): ResolvedSettings {
  const problems: SettingProblem[] = [];
  const tagLayer = parseEachField(
    Object.entries(tags).filter(([tag]) => Object.values(SETTINGS_TAGS).includes(tag)),
    (tag, value) => parseSettingsFromTags({ [tag]: String(value) }),
    'tags',
    problems,
  );
  const metadataLayer = parseEachField(
    metadataEntries(metadata, problems),
    (key, value) => parseSettingsFromObject({ [key]: value }),
    'metadata',
    problems,
  );
  return { settings: mergeSettings(envLayer, tagLayer, metadataLayer), problems };
}

/**
 * Metadata is read as probe settings only when it is (or is clearly meant to be) a JSON
 * object. Anything else — plain text, as in AWS's own examples, or a JSON string or number —
 * is opaque text for other tools: no settings, and no problem to report.
 */
function metadataEntries(
  metadata: string | undefined,
  problems: SettingProblem[],
): [string, unknown][] {
  const text = metadata?.trim() ?? '';
  if (!text.startsWith('{')) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push({
      source: 'metadata',
      field: 'NotificationMetadata',
      message:
        'NotificationMetadata: starts like a JSON object but is not valid JSON; expected probe settings such as {"metricsPort": 9000}',
    });
    return [];
  }
  return Object.entries(parsed as Record<string, unknown>);
}

function parseEachField(
  entries: [string, unknown][],
  parse: (key: string, value: unknown) => Partial<TargetSettings>,
  source: SettingProblem['source'],
  problems: SettingProblem[],
): Partial<TargetSettings> {
  const layer: Partial<Record<SettingsKey, unknown>> = {};
  for (const [key, value] of entries) {
    try {
      Object.assign(layer, parse(key, value));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push({ source, field: err.field, message: err.message });
    }
  }
  return layer as Partial<TargetSettings>;
}
