import { expect } from 'chai';
import { escapeUntrusted } from '../lib/text.js';

describe('text', () => {
  it('escapes C0, DEL, C1, line separators and bidi controls as \\uXXXX', () => {
    expect(escapeUntrusted('a\u0000\u001b[31m\u007f\u0085\u2028\u2029\u202e\u2066b', 100)).to.equal(
      'a\\u0000\\u001b[31m\\u007f\\u0085\\u2028\\u2029\\u202e\\u2066b',
    );
  });

  it('escapes a backslash so that an escape cannot be forged', () => {
    expect(escapeUntrusted('\\u0007', 100)).to.equal('\\\\u0007');
  });

  it('keeps printable text, accents and emoji as they are', () => {
    expect(escapeUntrusted('Grüße 🚀 ok', 100)).to.equal('Grüße 🚀 ok');
  });

  it('cuts at maxChars code points without splitting a surrogate pair', () => {
    expect(escapeUntrusted('ab🚀🚀cd', 3)).to.equal('ab🚀…');
    expect(escapeUntrusted('abc', 3)).to.equal('abc');
  });

  it('escapes a lone surrogate', () => {
    expect(escapeUntrusted('a\ud800b', 10)).to.equal('a\\ud800b');
  });
});
