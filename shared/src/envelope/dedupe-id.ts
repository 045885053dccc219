/** 0xFF never occurs in well-formed UTF-8, so no namespace or id can contain it. */
const SEPARATOR = Buffer.from([0xff]);

/**
 * What the leader remembers a message's publisher id by (the dedupe key's last part, passed to
 * dispatchBatch / streamAppend): `''` without an id (no dedupe); the id itself without a namespace
 * (the key it always had); with a namespace (record 0x08), the bytes `FF namespace FF id`. A leading
 * 0xFF cannot start a plain id (ids are well-formed UTF-8), and neither part can hold the separator, so
 * two publishers in different namespaces never share a key, and no namespace meets the global ids.
 */
export function dedupeId(header: {
  readonly id: string | undefined;
  readonly namespace: string | undefined;
}): string | Buffer {
  if (header.id === undefined) return '';
  if (header.namespace === undefined) return header.id;
  return Buffer.concat([
    SEPARATOR,
    Buffer.from(header.namespace, 'utf8'),
    SEPARATOR,
    Buffer.from(header.id, 'utf8'),
  ]);
}
