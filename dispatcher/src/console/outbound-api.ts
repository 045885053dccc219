import {
  type Config,
  type DeadLetterSelection,
  isEmptyFilter,
  purgeOutboundDead,
  queryOutboundDead,
  selectOutboundDead,
} from '@redispatch/shared';
import type { AdminScope } from '../cli/admin-connection.js';
import { HttpError, intParam } from './http-io.js';

/** `GET /api/outbound-dlq?limit=&offset=&reason=`: undeliverable replies, newest first (payload base64). */
export async function listOutboundDlq(_config: Config, scope: AdminScope, params: URLSearchParams) {
  const limit = intParam(params, 'limit', 20, 1, 500);
  const offset = intParam(params, 'offset', 0, 0, 1_000_000_000);
  const reason = params.get('reason') || undefined;
  if (reason !== undefined && reason.length > 512)
    throw new HttpError(400, 'reason must be at most 512 characters');
  const page = await queryOutboundDead(
    scope.client,
    scope.keys.outboundDead,
    reason === undefined ? {} : { reason },
    offset,
    limit,
  );
  return {
    total: page.total,
    entries: page.letters.map(({ dead }) => ({
      messageId: dead.entry?.messageId ?? null,
      reason: dead.reason,
      deadAt: dead.deadAt,
      replyTo: dead.entry?.replyTo ?? null,
      enqueuedAt: dead.entry?.enqueuedAt ?? null,
      payload: (dead.entry?.payload ?? dead.raw).toString('base64'),
    })),
  };
}

/**
 * `POST /api/outbound-dlq/purge` with `{ids}` (message ids: every reply to them), `{all: true}` or
 * `{reason}`: what `outbound-dlq purge` does (it has no replay: a reply's requester is gone).
 */
export async function purgeOutboundDlq(scope: AdminScope, selection: DeadLetterSelection) {
  const key = scope.keys.outboundDead;
  if (selection.kind === 'filter' && isEmptyFilter(selection.filter)) {
    // Everything: one DEL, however long the list (as the CLI does).
    const reply = await scope.client.multi().llen(key).del(key).exec();
    return { purged: Number(reply?.[0]?.[1] ?? 0), missing: [] };
  }
  const { letters, missing } = await selectOutboundDead(scope.client, key, selection);
  return { purged: letters.length > 0 ? await purgeOutboundDead(scope.client, key, letters) : 0, missing };
}
