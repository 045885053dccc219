/** A handler's reply turned into bytes, and whether relays should send it as a text frame. */
export interface ReplyBytes {
  readonly payload: Buffer;
  readonly text: boolean;
}

/**
 * Buffer / Uint8Array → the bytes as they are (binary); string → UTF-8 (text); anything else that
 * JSON can represent → its JSON text. `undefined` and `null` mean "no reply".
 */
export function replyBytes(value: unknown): ReplyBytes | undefined {
  if (value === undefined || value === null) return undefined;
  if (Buffer.isBuffer(value)) return { payload: value, text: false };
  if (value instanceof Uint8Array)
    return { payload: Buffer.from(value.buffer, value.byteOffset, value.byteLength), text: false };
  if (typeof value === 'string') return { payload: Buffer.from(value, 'utf8'), text: true };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`a reply must be bytes, a string or JSON, got ${typeof value}`);
  return { payload: Buffer.from(json, 'utf8'), text: true };
}
