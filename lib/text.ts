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
