/**
 * The AWS SDK warns once per process that its releases after January 2027 will need Node 22.
 * themis pins its SDK version, supports Node ≥ 20.19 on purpose, and runs on nodejs22.x in
 * Lambda, so for the CLI and the tests the notice is noise in front of the one line that
 * matters. Only that warning is dropped; every other warning still prints.
 */
export function dropSdkNodeVersionNotice(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    if (String(warning).startsWith('NodeVersionSupportWarning')) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}
