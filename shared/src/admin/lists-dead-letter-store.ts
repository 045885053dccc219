import type { Redis } from 'ioredis';
import { dlqPurgeIds, dlqReplay } from '../redis/calls/dead-letter-calls.js';
import type { Keys } from '../redis/keys.js';
import {
  type DeadLetterFilter,
  type DeadLetterRef,
  type DeadLetterSelection,
  type DeadLetterStore,
  isEmptyFilter,
  missingIds,
  reasonMatches,
} from './dead-letter-filter.js';
import type { DeadLetter } from './dead-letters.js';
import { truncatedSize } from './truncated-letters.js';

/** Ids per ZRANGE page and per script call: bounded work per round trip. */
const PAGE = 500;

interface Scored {
  id: string;
  at: number;
}

/** Lists mode: the `{prefix}:dlq` zset (id -> time) with the body, attempts and errors hashes. */
export function listsDeadLetterStore(redis: Redis, keys: Keys): DeadLetterStore {
  const stackField = (id: string) => `stack:${id}`;

  /** Newest first, every id the filter matches, page by page (time bounds go to Redis). */
  async function* matching(filter: DeadLetterFilter): AsyncGenerator<Scored[]> {
    const max = filter.before === undefined ? '+inf' : String(filter.before);
    const min = filter.after === undefined ? '-inf' : String(filter.after);
    for (let offset = 0; ; offset += PAGE) {
      const flat = (await redis.call(
        'ZRANGE',
        keys.dlq,
        max,
        min,
        'BYSCORE',
        'REV',
        'LIMIT',
        offset,
        PAGE,
        'WITHSCORES',
      )) as string[];
      const page = pairs(flat);
      if (page.length === 0) return;
      if (filter.reason === undefined) yield page;
      else {
        const reasons = await redis.hmget(keys.errors, ...page.map((e) => e.id));
        yield page.filter((_, i) => reasonMatches(filter, reasons[i] ?? ''));
      }
      if (page.length < PAGE) return;
    }
  }

  async function load(entries: Scored[]): Promise<DeadLetter[]> {
    if (entries.length === 0) return [];
    const ids = entries.map((e) => e.id);
    const [bodies, reasons, attempts, stacks] = await Promise.all([
      redis.hmgetBuffer(keys.body, ...ids),
      redis.hmget(keys.errors, ...ids),
      redis.hmget(keys.attempts, ...ids),
      redis.hmget(keys.errors, ...ids.map(stackField)),
    ]);
    return entries.map(({ id, at }, i) => {
      const letter: DeadLetter = {
        id,
        reason: reasons[i] ?? '',
        attempts: Number.parseInt(attempts[i] ?? '0', 10),
        deadLetteredAt: at,
        body: bodies[i] ?? Buffer.alloc(0),
      };
      const stack = stacks[i];
      if (stack) letter.stack = stack;
      return letter;
    });
  }

  async function refsOf(entries: Scored[]): Promise<DeadLetterRef[]> {
    if (entries.length === 0) return [];
    const sizes = redis.pipeline();
    for (const { id } of entries) sizes.hstrlen(keys.body, id);
    const [replies, reasons] = await Promise.all([
      sizes.exec().then((r) => r ?? []),
      redis.hmget(keys.errors, ...entries.map(({ id }) => id)),
    ]);
    return entries.map(({ id, at }, i) => {
      const cut = truncatedSize(reasons[i] ?? '');
      return {
        id,
        deadLetteredAt: at,
        size: cut ?? Number(replies[i]?.[1] ?? 0),
        ...(cut === undefined ? {} : { truncated: true }),
        locator: id,
      };
    });
  }

  async function scores(ids: readonly string[]): Promise<Scored[]> {
    const found: Scored[] = [];
    for (let i = 0; i < ids.length; i += PAGE) {
      const chunk = ids.slice(i, i + PAGE);
      const pipeline = redis.pipeline();
      for (const id of chunk) pipeline.zscore(keys.dlq, id);
      const replies = (await pipeline.exec()) ?? [];
      chunk.forEach((id, j) => {
        const score = replies[j]?.[1];
        if (typeof score === 'string') found.push({ id, at: Number(score) });
      });
    }
    return found;
  }

  return {
    async query(filter, offset, limit) {
      if (isEmptyFilter(filter)) {
        const [total, flat] = await Promise.all([
          redis.zcard(keys.dlq),
          redis.zrange(keys.dlq, offset, offset + limit - 1, 'REV', 'WITHSCORES'),
        ]);
        return { total, letters: await load(pairs(flat)) };
      }
      let total = 0;
      const page: Scored[] = [];
      for await (const matches of matching(filter)) {
        for (const entry of matches) {
          if (total >= offset && page.length < limit) page.push(entry);
          total += 1;
        }
      }
      return { total, letters: await load(page) };
    },
    async show(id) {
      return load(await scores([id]));
    },
    async select(selection: DeadLetterSelection) {
      if (selection.kind === 'ids') {
        const ids = [...new Set(selection.ids)];
        const found = await scores(ids);
        return {
          refs: await refsOf(found),
          missing: missingIds(
            ids,
            found.map((f) => f.id),
          ),
        };
      }
      const refs: DeadLetterRef[] = [];
      for await (const matches of matching(selection.filter)) refs.push(...(await refsOf(matches)));
      return { refs, missing: [] };
    },
    async replay(refs) {
      let replayed = 0;
      for (let i = 0; i < refs.length; i += PAGE) {
        const ids = refs.slice(i, i + PAGE).map((r) => r.locator);
        replayed += await dlqReplay(redis, keys, { ids });
      }
      return replayed;
    },
    async purge(refs) {
      let purged = 0;
      for (let i = 0; i < refs.length; i += PAGE) {
        const ids = refs.slice(i, i + PAGE).map((r) => r.locator);
        purged += await dlqPurgeIds(redis, keys, { ids });
      }
      return purged;
    },
  };
}

function pairs(flat: string[]): Scored[] {
  const out: Scored[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] ?? '', at: Number(flat[i + 1]) });
  return out;
}
