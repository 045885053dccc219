/** How a dead letter's body is shown: as text when it is printable UTF-8, else as bytes. */

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Control characters other than tab, newline and carriage return make text unreadable on a terminal. */
function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || (code >= 0x7f && code < 0xa0);
}

/** The body as text when it is valid UTF-8 with no control characters, else undefined. */
export function printableText(body: Buffer): string | undefined {
  try {
    const text = STRICT_UTF8.decode(body);
    for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return undefined;
    return text;
  } catch {
    return undefined;
  }
}

/** `xxd`-style: offset, 16 bytes in groups of two, then the printable ASCII (others as '.'). */
export function hexDump(body: Buffer): string[] {
  const lines: string[] = [];
  for (let offset = 0; offset < body.length; offset += 16) {
    const row = body.subarray(offset, offset + 16);
    const hex = (row.toString('hex').match(/.{1,4}/g) ?? []).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}: ${hex.padEnd(39)}  ${ascii}`);
  }
  return lines;
}

/**
 * One-line preview for listings: a JSON string of the first `bytes` as before for text; for a binary
 * body `<binary N bytes: 89504e47…>` instead of mojibake.
 */
export function previewBody(body: Buffer, bytes: number): string {
  const head = body.subarray(0, bytes);
  // The cut can split a multi-byte character (up to 3 bytes of it): judge the head without them.
  const cuts = body.length > bytes ? [0, 1, 2, 3] : [0];
  const text = cuts
    .map((cut) => printableText(head.subarray(0, head.length - cut)))
    .find((t) => t !== undefined);
  if (text !== undefined) return JSON.stringify(text);
  const more = body.length > 16 ? '…' : '';
  return `<binary ${body.length} bytes: ${body.subarray(0, 16).toString('hex')}${more}>`;
}
