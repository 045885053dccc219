import type { IncomingMessage } from 'node:http';
import type { Config, DeadLetter, DeadLetterSelection } from '@redispatch/shared';
import type { AdminScope } from '../cli/admin-connection.js';
import { deadLetterStore } from '../cli/command-dlq.js';
import { HttpError, intParam, readJsonObject } from './http-io.js';

/** Ids one action may name: a page of the browser's selection, not a bulk channel. */
export const MAX_ACTION_IDS = 1_000;
/** Longest id or reason text the API accepts. */
const MAX_TEXT = 512;

/** One dead letter as the API returns it (body base64; `stack` only in the single-entry view). */
export function letterJson(letter: DeadLetter, withStack: boolean) {
  return {
    id: letter.id,
    reason: letter.reason,
    attempts: letter.attempts,
    deadAt: letter.deadLetteredAt,
    size: letter.body.length,
    body: letter.body.toString('base64'),
    ...(withStack && letter.stack ? { stack: letter.stack } : {}),
  };
}

/** `GET /api/dlq?limit=&offset=&reason=`: newest first. */
export async function listDlq(config: Config, scope: AdminScope, params: URLSearchParams) {
  const limit = intParam(params, 'limit', 20, 1, 500);
  const offset = intParam(params, 'offset', 0, 0, 1_000_000_000);
  const reason = textParam(params.get('reason'), 'reason');
  const page = await deadLetterStore(config, scope).query(
    reason === undefined ? {} : { reason },
    offset,
    limit,
  );
  return { total: page.total, entries: page.letters.map((l) => letterJson(l, false)) };
}

/** `GET /api/dlq/<id>`: every dead letter with this id, in full. */
export async function showDlq(config: Config, scope: AdminScope, id: string) {
  const letters = await deadLetterStore(config, scope).show(checkedId(id));
  if (letters.length === 0) throw new HttpError(404, `no dead letter with id ${id}`);
  return { entries: letters.map((l) => letterJson(l, true)) };
}

/** `{ids: [...]}`, `{all: true}` or `{reason: "<text>"}`: exactly one of them. */
export async function selectionOf(req: IncomingMessage): Promise<DeadLetterSelection> {
  const body = await readJsonObject(req);
  const given = ['ids', 'all', 'reason'].filter((k) => body[k] !== undefined);
  const unknown = Object.keys(body).filter((k) => !['ids', 'all', 'reason'].includes(k));
  if (unknown.length > 0)
    throw new HttpError(400, `unknown field "${unknown[0]?.slice(0, 40)}" (use ids, all or reason)`);
  if (given.length !== 1)
    throw new HttpError(400, 'give exactly one of {"ids": [...]}, {"all": true}, {"reason": "<text>"}');
  if (body.all !== undefined) {
    if (body.all !== true) throw new HttpError(400, '"all" must be true');
    return { kind: 'filter', filter: {} };
  }
  if (body.reason !== undefined) {
    if (typeof body.reason !== 'string') throw new HttpError(400, '"reason" must be a string');
    const reason = textParam(body.reason, 'reason');
    if (reason === undefined)
      throw new HttpError(400, '"reason" must not be empty (use {"all": true} for every dead letter)');
    return { kind: 'filter', filter: { reason } };
  }
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length === 0)
    throw new HttpError(400, '"ids" must be a non-empty array of strings');
  if (ids.length > MAX_ACTION_IDS)
    throw new HttpError(400, `"ids" may name at most ${MAX_ACTION_IDS} ids (got ${ids.length})`);
  return { kind: 'ids', ids: ids.map((id) => (typeof id === 'string' ? checkedId(id) : badId())) };
}

/** `POST /api/dlq/replay`: bodies over REDISPATCH_MAX_PAYLOAD_BYTES stay (listed in `oversize`). */
export async function replayDlq(config: Config, scope: AdminScope, selection: DeadLetterSelection) {
  const store = deadLetterStore(config, scope);
  const { refs, missing } = await store.select(selection);
  const max = config.maxPayloadBytes;
  const fits = refs.filter((r) => r.size <= max);
  const oversize = refs.filter((r) => r.size > max).map((r) => r.id);
  return { replayed: await store.replay(fits), missing, oversize };
}

/** `POST /api/dlq/purge`. */
export async function purgeDlq(config: Config, scope: AdminScope, selection: DeadLetterSelection) {
  const store = deadLetterStore(config, scope);
  const { refs, missing } = await store.select(selection);
  return { purged: refs.length > 0 ? await store.purge(refs) : 0, missing };
}

function badId(): never {
  throw new HttpError(400, '"ids" must contain only strings');
}

/** A message id: 1..512 characters, no control characters. */
export function checkedId(id: string): string {
  const control = [...id].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (id.length === 0 || id.length > MAX_TEXT || control)
    throw new HttpError(400, `a message id is 1 to ${MAX_TEXT} characters without control characters`);
  return id;
}

function textParam(value: string | null | undefined, name: string): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (value.length > MAX_TEXT) throw new HttpError(400, `${name} must be at most ${MAX_TEXT} characters`);
  return value;
}
