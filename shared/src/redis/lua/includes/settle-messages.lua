-- Acks and nacks for one worker (needs the push-chunked, message-options, attempt-link, priority-insert,
-- token-bucket and list-key-gate includes). Only the current owner may settle: a late ack or nack from a
-- worker whose claim expired (frozen, or declared dead) is counted as stale and changes nothing. An ack or
-- a dead letter of a message gated by its key (its owner carries KEY_GATED_OWNER) frees the key's slot
-- and lets the key's next message in, in this same call (list-key-gate.lua).
-- k: {inflight, owner, held, attempts, body, errors, delayed, dlq, totals}
-- args[base..]: ackCount ids, then nackCount x (id, delayMs, error); an error starting with byte 1 carries
-- the failed attempt's span context (kept for the next attempt's link); delayMs < 0 dead-letters at once
-- with the error as the whole reason (UnrecoverableError, or a message past its expiry that was never
-- handed to a handler). An error may carry the handler's
-- stack after a NUL byte ("<reason>\0<stack>"); a dead letter keeps it in errors["stack:<id>"].
-- Returns acked, retried, deadLettered, stale, the set of ids acked by this call (id -> true), and the
-- index in args just past the nack triples (where an optional reply section starts).
local function settleMessages(k, worker, maxAttempts, args, base, ackCount, nackCount, now)
  local acked, retried, deadLettered, stale = 0, 0, 0, 0
  local seen = {}
  local gatedOwner = worker .. KEY_GATED_OWNER
  local gate = nil
  -- Frees a gated message's key slot (read the limits only the first time one shows up).
  local function freeKeySlot(id, forget)
    if not gate then
      local tag = tagOfKey(k.inflight, ':inflight')
      gate = keyGate(tag, now)
      gate.route = keySettleRoute(tag, worker, gate)
    end
    keyFreeSlot(gate, id, forget, gate.route)
  end
  local function release(id)
    local owner = redis.call('HGET', k.owner, id)
    if owner ~= worker and owner ~= gatedOwner then
      stale = stale + 1
      return false
    end
    redis.call('ZREM', k.inflight, id)
    redis.call('HDEL', k.owner, id)
    redis.call('SREM', k.held, id)
    return true, owner == gatedOwner
  end
  -- Acks in bulk: one ownership read, then one variadic delete per structure.
  if ackCount > 0 then
    local ids = {}
    for i = 0, ackCount - 1 do ids[#ids + 1] = args[base + i] end
    base = base + ackCount
    local owners = hmgetChunked(k.owner, ids)
    local owned, gated = {}, {}
    for i, id in ipairs(ids) do
      if (owners[i] == worker or owners[i] == gatedOwner) and not seen[id] then
        seen[id] = true
        owned[#owned + 1] = id
        if owners[i] == gatedOwner then gated[#gated + 1] = id end
      else
        stale = stale + 1
      end
    end
    if #owned > 0 then
      pushChunked('ZREM', k.inflight, owned)
      pushChunked('HDEL', k.owner, owned)
      pushChunked('SREM', k.held, owned)
      pushChunked('HDEL', k.body, owned)
      pushChunked('HDEL', k.attempts, owned)
      pushChunked('HDEL', k.errors, owned)
      acked = #owned
    end
    for _, id in ipairs(gated) do freeKeySlot(id, true) end
  end
  for _ = 1, nackCount do
    local id, delay, err = args[base], tonumber(args[base + 1]), args[base + 2]
    -- A traced nack: "\1<50 hex: the failed attempt's span context><error>" (tracing/attempt-link.ts).
    local link = nil
    link, err = takeAttemptLink(err)
    local stack = nil
    local cut = string.find(err, '\0', 1, true)
    if cut then err, stack = string.sub(err, 1, cut - 1), string.sub(err, cut + 1) end
    local owned, gated = release(id)
    if owned then
      local value = redis.call('HGET', k.attempts, id)
      local attempts, limit = deliveriesOf(value), attemptLimitOf(value, maxAttempts)
      -- A negative delay asks to dead-letter now (UnrecoverableError, expired): its text is the whole reason.
      if delay < 0 or attempts >= limit then
        local reason = delay < 0 and err or (err .. ' (attempt ' .. attempts .. ' of ' .. limit .. ')')
        redis.call('HSET', k.errors, id, reason)
        if stack then redis.call('HSET', k.errors, 'stack:' .. id, stack) end
        redis.call('ZADD', k.dlq, now, id)
        deadLettered = deadLettered + 1
        if gated then freeKeySlot(id, false) end
      else
        redis.call('HSET', k.errors, id, err)
        if link then redis.call('HSET', k.attempts, id, withAttemptLink(value, link)) end
        redis.call('ZADD', k.delayed, now + delay, id)
        retried = retried + 1
      end
    end
    base = base + 3
  end
  if acked > 0 then redis.call('HINCRBY', k.totals, 'acked', acked) end
  if retried + deadLettered > 0 then redis.call('HINCRBY', k.totals, 'nacked', retried + deadLettered) end
  if deadLettered > 0 then redis.call('HINCRBY', k.totals, 'deadLettered', deadLettered) end
  return acked, retried, deadLettered, stale, seen, base
end
