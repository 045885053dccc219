import { isIPv4, isIPv6 } from 'node:net';

/**
 * What kind of destination an IP address is. Everything but `public` is reachable only from inside
 * (the host itself, its network, the cloud's metadata service) or is no unicast destination at all.
 */
export type AddressClass =
  | 'public'
  | 'loopback' // 127/8, ::1
  | 'private' // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10
  | 'shared' // 100.64/10 (carrier-grade NAT; some clusters put pods there)
  | 'link-local' // 169.254/16 (cloud metadata 169.254.169.254), fe80::/10
  | 'unspecified' // 0/8, :: (0.0.0.0 reaches the host itself on Linux)
  | 'multicast' // 224/4, ff00::/8
  | 'reserved'; // 240/4 (with the broadcast address), IPv4-compatible ::a.b.c.d, not an IP

function v4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (zone id dropped), or undefined if it is not one. */
function v6Bytes(ip: string): number[] | undefined {
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return undefined;
  let text = bare;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail) {
    const [a = 0, b = 0, c = 0, d = 0] = v4Bytes(tail);
    text = `${text.slice(0, -tail.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(rest);
  const fill = rest === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function classifyV4([a = 0, b = 0]: number[]): AddressClass {
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'shared';
  if (a === 169 && b === 254) return 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved';
  return 'public';
}

function classifyV6(bytes: number[]): AddressClass {
  const zeroUpTo = (n: number) => bytes.slice(0, n).every((byte) => byte === 0);
  const [b0 = 0, b1 = 0] = bytes;
  if (zeroUpTo(16)) return 'unspecified';
  if (zeroUpTo(15) && bytes[15] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d reaches a.b.c.d; so does NAT64's 64:ff9b::a.b.c.d through the gateway.
  if (zeroUpTo(10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(bytes.slice(12));
  if (
    b0 === 0x00 &&
    b1 === 0x64 &&
    bytes[2] === 0xff &&
    bytes[3] === 0x9b &&
    bytes.slice(4, 12).every((x) => x === 0)
  )
    return classifyV4(bytes.slice(12));
  if (zeroUpTo(12)) return 'reserved';
  // 6to4 2002:a.b.c.d::/48 tunnels to a.b.c.d.
  if (b0 === 0x20 && b1 === 0x02) return classifyV4(bytes.slice(2, 6));
  if ((b0 & 0xfe) === 0xfc) return 'private';
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local';
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return 'private';
  if (b0 === 0xff) return 'multicast';
  return 'public';
}

/** Classifies an IPv4 or IPv6 address as dns.lookup returns it or a URL names it (brackets removed). */
export function classifyAddress(ip: string): AddressClass {
  if (isIPv4(ip)) return classifyV4(v4Bytes(ip));
  const bytes = v6Bytes(ip);
  return bytes ? classifyV6(bytes) : 'reserved';
}
