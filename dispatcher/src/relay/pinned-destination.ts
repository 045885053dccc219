import { lookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import type { HttpAllowEntry } from '@redispatch/shared';
import { classifyAddress } from './address-class.js';
import { destinationAllowed } from './url-policy.js';

export interface PinnedAddress {
  address: string;
  family: 4 | 6;
}

/** The addresses a POST may connect to (all checked), or why the destination is refused. */
export type Destination =
  | { kind: 'pinned'; addresses: readonly PinnedAddress[] }
  | { kind: 'refused'; why: string };

/**
 * Resolves the reply URL's host once and checks every address it has: one refused address refuses
 * the destination (a name that resolves to the metadata service among others is not trusted). DNS
 * errors are thrown (the endpoint is unreachable for now, worth a retry).
 */
export async function resolveDestination(url: URL, entry: HttpAllowEntry): Promise<Destination> {
  const addresses: PinnedAddress[] = entry.literal
    ? [{ address: entry.literal, family: isIP(entry.literal) === 6 ? 6 : 4 }]
    : (await lookup(url.hostname, { all: true, verbatim: true })).map(({ address, family }) => ({
        address,
        family: family === 6 ? 6 : 4,
      }));
  if (addresses.length === 0) throw new Error(`${url.hostname} has no address`);
  for (const { address } of addresses) {
    const kind = classifyAddress(address);
    if (!destinationAllowed(entry, kind))
      return { kind: 'refused', why: `${url.hostname} is ${address} (${kind})` };
  }
  return { kind: 'pinned', addresses };
}

/**
 * A `lookup` for net/tls connect that answers only with the addresses already checked, so a DNS
 * answer that changes between the check and the connect (rebinding) is never used.
 */
export function pinnedLookup(addresses: readonly PinnedAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const wanted = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const usable = addresses.filter(({ family }) => !wanted || wanted === family);
    const first = usable[0];
    if (!first) {
      const error: NodeJS.ErrnoException = new Error(`no checked address for ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '', 4);
    } else if (options.all) {
      callback(null, [...usable]);
    } else {
      callback(null, first.address, first.family);
    }
  };
}
