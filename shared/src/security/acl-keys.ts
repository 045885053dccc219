import { createKeys } from '../redis/keys.js';
import { partitionKeys } from '../streams/partition-keys.js';

/**
 * The key patterns of the ACL rules, every one built from the key builders (shared/src/redis/keys.ts,
 * shared/src/streams/partition-keys.ts) with a glob where a worker, relay or partition id goes.
 */

/** `~{prefix}:*`: every key of the deployment's own slot. */
export function everyDeploymentKey(prefix: string): string {
  return `~${createKeys(prefix).tag}:*`;
}

/**
 * The partitions' tag names. With the stored partition table's tags (`{prefix}:partitions`, a JSON
 * list such as `["rd:0","rd:1.k3"]`): exactly those, so no pattern reaches another deployment's keys
 * (issue 22: `{rd:[0-9]*}` also matched `{rd:2024}:epoch`, `{rd:7prod}:s`, `{rd:1-staging}:dlq`).
 * Without them: the glob `<prefix>:[0-9]*` (any tag `partitionKeys` could make, and more).
 */
function partitionTagNames(prefix: string, tags: readonly string[] | undefined): string[] {
  return tags === undefined ? [`${prefix}:[0-9]*`] : [...tags];
}

/** `~{tag}:*` per partition: every key of every partition. */
export function everyPartitionKey(prefix: string, tags?: readonly string[]): string[] {
  return partitionTagNames(prefix, tags).map((tag, i) => `~${partitionKeys(i, tag).tag}:*`);
}

/** The partitions' dead-letter streams (a worker's only XADD target), one pattern per partition. */
export function partitionDeadLetterKey(prefix: string, tags?: readonly string[]): string {
  return partitionTagNames(prefix, tags)
    .map((tag, i) => `~${partitionKeys(i, tag).dlq}`)
    .join(' ');
}

/**
 * The partition streams, one pattern per partition: with a per-key concurrency limit a worker's settle
 * appends the key's next held message in the same call as the ack (lua/includes/key-gate.lua).
 */
export function partitionStreamKey(prefix: string, tags?: readonly string[]): string {
  return partitionTagNames(prefix, tags)
    .map((tag, i) => `~${partitionKeys(i, tag).stream}`)
    .join(' ');
}

/** Whether `tag` is a partition tag of `prefix` as the partition table writes them. */
export function isPartitionTag(prefix: string, tag: string): boolean {
  return tag.startsWith(`${prefix}:`) && /^\d+(\.[A-Za-z0-9]+)?$/.test(tag.slice(prefix.length + 1));
}

/**
 * The results streams (REDISPATCH_RESULTS=stream): the deployment's (lists mode) or every partition's
 * (streams mode). A worker's settle scripts XADD into them, by a selector of their own.
 */
export function resultsKey(prefix: string, mode: 'lists' | 'streams', tags?: readonly string[]): string {
  if (mode === 'lists') return `~${createKeys(prefix).results}`;
  return partitionTagNames(prefix, tags)
    .map((tag, i) => `~${partitionKeys(i, tag).results}`)
    .join(' ');
}

/**
 * Every long-lived process (dispatcher, worker, relay) keeps its entry in the endpoint directory
 * (where it serves /metrics; shared/src/observability/endpoint-directory.ts): a selector, so the
 * commands reach that one hash only.
 */
export function endpointSelector(prefix: string): string {
  return `(+time +hset +hdel +hgetall ~${createKeys(prefix).endpoints})`;
}

/** Key patterns a worker touches: its queue and held set (any worker id), and the shared message state. */
export function workerKeys(prefix: string): string[] {
  const k = createKeys(prefix);
  return [
    k.queue('*'),
    k.held('*'),
    k.inflight,
    k.owner,
    k.attempts,
    k.body,
    k.workers,
    k.backlog,
    k.errors,
    k.delayed,
    k.dlq,
    k.totals,
    k.relays,
    k.outboundDead,
    // Replies: one outbound queue per relay (and one for HTTP deliveries).
    k.outbound('*'),
    // Per-key limits (includes/list-key-gate.lua): an ack or dead letter frees its key's slot and lets the
    // key's next message in, to the worker's queue or, while the leader holds routing, the held list.
    k.keyOf,
    k.keyBusy,
    k.keyWait,
    k.keyHeld('*'),
    k.keyBucket('*'),
    k.flowHeld,
  ]
    .map((key) => `~${key}`)
    .concat(`%R~${k.keyLimits}`, `%R~${k.flow}`);
}

/**
 * Streams mode: the worker's keys. The partition stream (and its priority stream) is read and acked, never written
 * (XADD is not granted on it); the partition table is read-only. The dead-letter streams are here
 * because the settle and reclaim scripts declare them (Redis checks a script's declared keys
 * against these patterns); the XADD into them is granted by a selector of its own.
 */
export function streamWorkerKeys(prefix: string, tags?: readonly string[]): string[] {
  const k = createKeys(prefix);
  return [
    `%R~${k.partitions}`,
    `~${k.workers}`,
    `~${k.relays}`,
    `~${k.outboundDead}`,
    `~${k.outbound('*')}`,
    ...partitionTagNames(prefix, tags).flatMap((tag, i) => {
      const p = partitionKeys(i, tag);
      return [
        p.stream,
        p.priorityStream,
        p.delayed,
        p.delayedBody,
        p.delayedAttempts,
        p.errors,
        p.dlq,
        p.totals,
        p.results,
        // The per-key limits' keys (lua/includes/key-gate.lua: a fixed set plus one list and one
        // bucket per affinity key), all under this one prefix of the partition's slot.
        `${p.keyGate}*`,
      ].map((key) => `~${key}`);
    }),
  ];
}

/** The relay's keys: registry, outbound queues and processing lists, sessions, outbound dead letters. */
export function relayKeys(prefix: string): string[] {
  const k = createKeys(prefix);
  return [
    k.relays,
    k.outboundDead,
    k.outbound('relay:*'),
    k.outboundProcessing('relay:*', ''),
    k.outbound('http'),
    k.outboundProcessing('http', '*'),
    k.relaySessions('*'),
  ].map((key) => `~${key}`);
}

/**
 * The deployment check every role but lock and publisher makes at start (shared/src/deployment):
 * GET of the stamp (and SET NX of it for the roles that stamp a new deployment: dispatcher and
 * worker), and EXISTS on the keys an unstamped earlier deployment's mode is read from. Selectors, so
 * no role gains SET or EXISTS on anything else.
 */
export function deploymentRules(prefix: string, stamps: boolean): string[] {
  const k = createKeys(prefix);
  return [
    stamps ? `(+get +set ~${k.deployment})` : `(+get %R~${k.deployment})`,
    `(+exists %R~${k.partitions} %R~${k.epoch} %R~${k.workers})`,
  ];
}
