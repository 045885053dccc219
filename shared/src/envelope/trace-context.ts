/**
 * W3C Trace Context in the envelope: extension records 0x06 `traceparent` and 0x07 `tracestate`
 * (https://www.w3.org/TR/trace-context/). Both are checked byte by byte in place, so the decoder
 * allocates nothing to validate them, and the encoder uses the same checks on the string's bytes.
 */

/** `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`: always 55 ASCII bytes in version 00. */
export const TRACEPARENT_BYTES = 55;

/** Longest `tracestate` the envelope carries, in bytes (ASCII). */
export const MAX_TRACESTATE_BYTES = 512;

/** The W3C limit on list members in `tracestate`. */
const MAX_TRACESTATE_MEMBERS = 32;

const DASH = 0x2d;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const AT = 0x40;
const SPACE = 0x20;
const TAB = 0x09;

/** Lower-case hex digit (W3C: HEXDIGLC). */
function isHex(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66);
}

/** Checks `length` lower-case hex digits at `start`, not all `0`; returns a reason or undefined. */
function hexField(bytes: Uint8Array, start: number, length: number, name: string): string | undefined {
  let nonZero = false;
  for (let i = start; i < start + length; i++) {
    const byte = bytes[i]!;
    if (!isHex(byte)) return `${name} is not ${length} lower-case hex digits`;
    if (byte !== 0x30) nonZero = true;
  }
  return nonZero ? undefined : `${name} is all zeros`;
}

/**
 * Why the bytes `start..end` are not a version-00 W3C `traceparent`, or undefined when they are:
 * `00-` + 32 hex trace id (not all zero) + `-` + 16 hex span id (not all zero) + `-` + 2 hex flags.
 */
export function traceparentProblem(bytes: Uint8Array, start: number, end: number): string | undefined {
  if (end - start !== TRACEPARENT_BYTES) {
    return `traceparent has length ${end - start}; version 00 is exactly ${TRACEPARENT_BYTES} bytes`;
  }
  if (bytes[start] !== 0x30 || bytes[start + 1] !== 0x30) return 'traceparent version is not 00';
  if (bytes[start + 2] !== DASH || bytes[start + 35] !== DASH || bytes[start + 52] !== DASH) {
    return "traceparent fields are not separated by '-' at 2, 35 and 52";
  }
  return (
    hexField(bytes, start + 3, 32, 'traceparent trace id') ??
    hexField(bytes, start + 36, 16, 'traceparent span id') ??
    (isHex(bytes[start + 53]!) && isHex(bytes[start + 54]!)
      ? undefined
      : 'traceparent flags are not 2 lower-case hex digits')
  );
}

/** W3C key characters after the first: lcalpha, DIGIT, `_ - * /`. */
function isKeyChar(byte: number): boolean {
  return (
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x5f ||
    byte === DASH ||
    byte === 0x2a ||
    byte === 0x2f
  );
}

/**
 * A `tracestate` key at `at..end` (`simple-key` or `tenant@system`); returns where it ends (the `=`
 * is not checked here), or -1 when it is not a key.
 */
function keyEnd(bytes: Uint8Array, at: number, end: number): number {
  const first = bytes[at]!;
  if (!((first >= 0x61 && first <= 0x7a) || (first >= 0x30 && first <= 0x39))) return -1;
  let i = at + 1;
  while (i < end && isKeyChar(bytes[i]!)) i++;
  const tenantLength = i - at;
  if (i < end && bytes[i] === AT) {
    if (tenantLength > 241) return -1;
    const system = i + 1;
    const systemFirst = system < end ? bytes[system]! : 0;
    if (systemFirst < 0x61 || systemFirst > 0x7a) return -1;
    i = system + 1;
    while (i < end && isKeyChar(bytes[i]!)) i++;
    return i - system > 14 ? -1 : i;
  }
  // A simple key starts with lcalpha; a digit may start only a tenant id.
  if (first < 0x61 || tenantLength > 256) return -1;
  return i;
}

/**
 * Why the bytes `start..end` are not a W3C `tracestate` list (1..512 bytes, 1..32 `key=value`
 * members separated by `,` with optional spaces or tabs around them), or undefined when they are.
 */
export function tracestateProblem(bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = end - start;
  if (length === 0 || length > MAX_TRACESTATE_BYTES) {
    return `tracestate has length ${length}; it must be 1..${MAX_TRACESTATE_BYTES} bytes`;
  }
  let members = 0;
  let at = start;
  while (at <= end) {
    // One list member: OWS [key "=" value] OWS, up to the next comma or the end.
    while (at < end && (bytes[at] === SPACE || bytes[at] === TAB)) at++;
    if (at < end && bytes[at] !== COMMA) {
      const keyStop = keyEnd(bytes, at, end);
      if (keyStop < 0 || keyStop >= end || bytes[keyStop] !== EQUALS) {
        return `tracestate member at byte ${at - start} has no valid key followed by '='`;
      }
      // The value runs to the next comma; trailing spaces and tabs are OWS, not part of it.
      let segmentEnd = keyStop + 1;
      while (segmentEnd < end && bytes[segmentEnd] !== COMMA) segmentEnd++;
      let valueEnd = segmentEnd;
      while (valueEnd > keyStop + 1 && (bytes[valueEnd - 1] === SPACE || bytes[valueEnd - 1] === TAB))
        valueEnd--;
      const valueLength = valueEnd - keyStop - 1;
      if (valueLength === 0 || valueLength > 256) {
        return `tracestate value at byte ${keyStop + 1 - start} has length ${valueLength}; it must be 1..256`;
      }
      for (let i = keyStop + 1; i < valueEnd; i++) {
        const byte = bytes[i]!;
        if (byte < SPACE || byte > 0x7e || byte === EQUALS) {
          return `tracestate value byte ${i - start} (0x${byte.toString(16).padStart(2, '0')}) is not allowed by W3C`;
        }
      }
      at = segmentEnd;
      members++;
      if (members > MAX_TRACESTATE_MEMBERS)
        return `tracestate has more than ${MAX_TRACESTATE_MEMBERS} members`;
    }
    at++; // past the comma (or the end)
  }
  return members === 0 ? 'tracestate has no key=value member' : undefined;
}
