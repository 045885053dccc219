/**
 * Whether a received channel name is `expected`, compared in JS: called for every pub/sub message
 * (twice: the ingress and the control listener), where `channel.toString()` was a string per message
 * and `Buffer#equals` a native call per message. Channel names are short.
 */
export function sameBytes(received: Buffer, expected: Buffer): boolean {
  const length = expected.length;
  if (received.length !== length) return false;
  for (let i = length - 1; i >= 0; i--) if (received[i] !== expected[i]) return false;
  return true;
}
