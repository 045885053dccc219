/**
 * Human-readable output is safe on a terminal: strings that came from Redis (dead-letter reasons,
 * error stacks, reply addresses, worker ids, instance names) may carry escape sequences that move
 * the cursor, rewrite earlier lines or retitle the window. Every control character — C0 but newline
 * and tab, DEL, C1, and the bidirectional overrides that reorder what is shown — is written as a
 * visible escape instead (`\x1b`, `\u202e`). JSON output needs none of this: JSON.stringify escapes.
 */
const BIDI = new Set([
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
]);

function isUnsafe(code: number): boolean {
  if (code === 0x09 || code === 0x0a) return false;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || BIDI.has(code);
}

function escapeOne(code: number): string {
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character escaped; newlines and tabs (layout) are kept. */
export function terminalSafe(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    out += isUnsafe(code) ? escapeOne(code) : char;
  }
  return out;
}
