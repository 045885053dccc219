import { type Config, queryOutboundDead } from '@redispatch/shared';
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
