/**
 * Rendezvous (highest-random-weight) hashing: a key goes to the worker with the highest
 * hash(key, worker). When a worker leaves, only its own keys move; when one joins, it takes only
 * the keys it now wins. FNV-1a (32-bit) is enough: the score needs spread, not secrecy.
 */
function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // Final avalanche so similar worker ids do not produce correlated scores.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  return hash >>> 0;
}

/** Index into `workers` of the worker that owns `key`, or -1 when there is none. */
export function rendezvousIndex(key: string, workers: readonly string[]): number {
  const keyHash = fnv1a(key, 0x811c9dc5);
  let best = -1;
  let bestScore = -1;
  for (let i = 0; i < workers.length; i++) {
    const score = fnv1a(workers[i] as string, keyHash);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
