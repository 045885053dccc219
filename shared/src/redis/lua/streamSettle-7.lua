--[[
  Streams mode: one worker's acks and nacks for ONE partition. Acks are one variadic XACK. A nack
  from the entry's current owner is acked and parked in the delayed set (backoff) or dead-lettered
  once its attempts reach the maximum; a nack for an entry another consumer has since reclaimed is
  stale and changes nothing (that consumer owns the retry now).

  KEYS[1] stream            stream  the partition, or its priority stream for entries read from there
  KEYS[2] delayed           zset    message id -> due time (server ms)
  KEYS[3] delayedBody       hash    message id -> payload, while delayed
  KEYS[4] delayedAttempts   hash    message id -> attempts so far, while delayed (then 'q<level>' for an
                                    entry with a priority, so it is promoted into the priority stream)
  KEYS[5] errors            hash    message id -> last handler error, while delayed
  KEYS[6] dlq               stream  dead letters {i, p, r, a[, s][, q]} (s: the handler's stack, when it sent one;
                                    q: the priority level, so a replay goes back to the priority stream)
  KEYS[7] totals            hash    this partition's counters

  ARGV[1] group
  ARGV[2] consumer      this worker's id
  ARGV[3] maxAttempts
  ARGV[4] ackCount
  ARGV[5] nackCount
  ARGV[6..]             ackCount entry ids, then nackCount x (entryId, messageId, attempt, delayMs, error);
                        an error may carry the handler's stack after a NUL byte ("<reason>\0<stack>"),
                        and, from a traced nack, the failed attempt's span context before it (byte 1 +
                        50 hex digits, kept in delayedAttempts as "x<hex>" and promoted as the 'l' field);
                        delayMs < 0 dead-letters at once with the error as the whole reason
                        (UnrecoverableError, expired). An entry's 'm' field (the publisher's own
                        attempt limit) overrides maxAttempts. Then optionally the results section
                        (includes/write-results.lua, keyed by entry id), written only for entries
                        this call acked

  Returns: {acked, retried, deadLettered, stale}
]]
--- @include now
--- @include push-chunked
--- @include write-results
--- @include attempt-link
local rcall = redis.call
local group, consumer, maxAttempts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ackCount, nackCount = tonumber(ARGV[4]), tonumber(ARGV[5])
local acked, retried, deadLettered, stale = 0, 0, 0, 0
local base = 6
-- With results to write, each ack is checked and sent on its own: only the entry's current owner
-- acks it (as in lists mode), so exactly one result is written per message, by the attempt that
-- finished it; a stale ack writes nothing.
local resultsAt = base + ackCount + 5 * nackCount
local ackedIds = ARGV[resultsAt] == 'results' and {} or nil
if ackCount > 0 then
  local ids = {}
  for i = 0, ackCount - 1 do ids[#ids + 1] = ARGV[base + i] end
  if ackedIds then
    for _, id in ipairs(ids) do
      local pending = rcall('XPENDING', KEYS[1], group, id, id, 1)
      if pending[1] and pending[1][2] == consumer and rcall('XACK', KEYS[1], group, id) == 1 then
        acked = acked + 1
        ackedIds[id] = true
      end
    end
  else
    for i = 1, #ids, CHUNK do
      acked = acked + rcall('XACK', KEYS[1], group, unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
    end
  end
  stale = ackCount - acked
  base = base + ackCount
end
if ackedIds then writeResults(ARGV, resultsAt, ackedIds) end
local now = nil
for _ = 1, nackCount do
  local entryId, messageId, attempt = ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2])
  local delay, link, err = tonumber(ARGV[base + 3]), takeAttemptLink(ARGV[base + 4])
  local stack = nil
  local cut = string.find(err, '\0', 1, true)
  if cut then err, stack = string.sub(err, 1, cut - 1), string.sub(err, cut + 1) end
  base = base + 5
  local pending = rcall('XPENDING', KEYS[1], group, entryId, entryId, 1)
  local entry = rcall('XRANGE', KEYS[1], entryId, entryId)
  if #pending == 0 or pending[1][2] ~= consumer or #entry == 0 then
    stale = stale + 1
  else
    local fields, payload, limit, level = entry[1][2], '', maxAttempts, nil
    for f = 1, #fields, 2 do
      if fields[f] == 'p' then payload = fields[f + 1]
      elseif fields[f] == 'm' then limit = tonumber(fields[f + 1])
      elseif fields[f] == 'q' then level = fields[f + 1] end
    end
    rcall('XACK', KEYS[1], group, entryId)
    now = now or nowMs()
    if delay < 0 or attempt >= limit then
      local reason = delay < 0 and err or (err .. ' (attempt ' .. attempt .. ' of ' .. limit .. ')')
      local dead = {'i', messageId, 'p', payload, 'r', reason, 'a', attempt}
      if stack then dead[#dead + 1], dead[#dead + 2] = 's', stack end
      if level then dead[#dead + 1], dead[#dead + 2] = 'q', level end
      rcall('XADD', KEYS[6], '*', unpack(dead))
      deadLettered = deadLettered + 1
    else
      rcall('ZADD', KEYS[2], now + delay, messageId)
      rcall('HSET', KEYS[3], messageId, payload)
      -- "x<hex>": the failed attempt's span context, for the next attempt's link (traced nacks only).
      local suffix = (link and ('x' .. link) or '') .. (level and ('q' .. level) or '')
      if limit ~= maxAttempts then
        rcall('HSET', KEYS[4], messageId, attempt .. '|' .. limit .. suffix)
      else
        rcall('HSET', KEYS[4], messageId, attempt .. suffix)
      end
      rcall('HSET', KEYS[5], messageId, err)
      retried = retried + 1
    end
  end
end
if acked > 0 then rcall('HINCRBY', KEYS[7], 'acked', acked) end
if retried + deadLettered > 0 then rcall('HINCRBY', KEYS[7], 'nacked', retried + deadLettered) end
if deadLettered > 0 then rcall('HINCRBY', KEYS[7], 'deadLettered', deadLettered) end
return {acked, retried, deadLettered, stale}
