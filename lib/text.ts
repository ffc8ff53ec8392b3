/**
 * Untrusted text (a probe's body, command output, a tag value) on its way into a log line,
 * a reason or an operator's notice: it must stay one line of visible text, and short.
 */

/**
 * Characters that move the cursor, ring, erase, start an escape sequence or reorder what a
 * reader sees: C0, DEL, C1, the Unicode line and paragraph separators and the bidirectional
 * controls. Shown as `\uXXXX` instead.
 */
export function isControlCode(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** Half of a surrogate pair on its own (a pair arrives as one code point above 0xffff). */
function isLoneSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdfff;
}

/**
 * `text` with every control character escaped as `\uXXXX` (a backslash as `\\`, so an escape
 * cannot be forged), cut to at most `maxChars` code points of the original followed by `…`.
 * A cut never splits a surrogate pair; the result is visible text on one line.
 */
export function escapeUntrusted(text: string, maxChars: number): string {
  let out = '';
  let chars = 0;
  for (const ch of text) {
    if (chars === maxChars) return `${out}…`;
    chars++;
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (isControlCode(code) || isLoneSurrogate(code))
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** True when `value` holds a control character (see isControlCode): never meant in a name or a value. */
export function hasControlCharacter(value: string): boolean {
  for (const ch of value) if (isControlCode(ch.codePointAt(0)!)) return true;
  return false;
}

/**
 * Text from outside themis made safe to show in a sentence: every run of control characters
 * becomes one space, runs of spaces shrink to one, and the length is bounded in code points
 * (never splitting a surrogate pair), ending in '…' when cut.
 */
export function plainText(text: string, maxChars: number): string {
  let spaced = '';
  for (const ch of text) spaced += isControlCode(ch.codePointAt(0)!) ? ' ' : ch;
  const clean = spaced.replace(/ {2,}/g, ' ').trim();
  const chars = Array.from(clean);
  if (chars.length <= maxChars) return clean;
  return `${chars
    .slice(0, Math.max(0, maxChars - 1))
    .join('')
    .trimEnd()}…`;
}
