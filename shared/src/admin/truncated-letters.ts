/**
 * An oversize payload is dead-lettered as its first bytes only, its size in the reason (issue 22:
 * storing 8 MB bodies whole let publishers fill Redis). One format, written by the leader's
 * placement and read back by the dead-letter stores, so `dlq replay` refuses what was cut.
 */
const OVERSIZE = /^oversize: (\d+) bytes exceeds .* \(first \d+ bytes kept\)$/;

/**
 * The reason of a dead-lettered oversize payload, of which `keptBytes` are stored: a body kept whole
 * (no larger than the prefix) says nothing more, and can be replayed once the limit is raised.
 */
export function oversizeReason(size: number, maxPayloadBytes: number, keptBytes: number): string {
  const reason = `oversize: ${size} bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=${maxPayloadBytes}`;
  return keptBytes < size ? `${reason} (first ${keptBytes} bytes kept)` : reason;
}

/** The size the payload had when its stored body is a truncated prefix, else undefined. */
export function truncatedSize(reason: string): number | undefined {
  const match = OVERSIZE.exec(reason);
  return match ? Number(match[1]) : undefined;
}
