-- Per-key limits, lists mode (docs/flow-control.md, Per-key limits): REDISPATCH_KEY_CONCURRENCY and
-- REDISPATCH_KEY_RATE_LIMIT. Everything is data-driven, so a message without a key (or with the
-- feature off) pays nothing: the leader marks a gated message with the 'k' option in the attempts
-- hash; a claim then writes its owner as worker..KEY_GATED_OWNER, which the settle scripts see in the
-- owner value they read anyway. Only then are the per-key keys below touched. Every key is built
-- from the deployment tag (shared/src/redis/keys.ts spells them):
--   tag:key-limits     hash  concurrency, rate, burst, hold ('1': the leader holds routing for a
--                            cluster-wide rate limit), highWater, workerTtl, sticky ('1': affinity
--                            routing), written by the leader's keyRelease-4.lua
--   tag:key-of         hash  id -> '+'..key (holds a concurrency slot) | '-'..key (holds none: waiting,
--                            delayed, or dead-lettered, kept so a replay is gated again)
--   tag:key-busy       hash  key -> slots taken (admitted and not yet acked or dead-lettered)
--   tag:key-held:<key> list  the key's messages waiting for a slot or a token, oldest first
--   tag:key-wait       zset  key -> when the leader should look at it: the ms its next token is due,
--                            or KEY_WAIT_SLOT (a settle frees a slot and admits the next)
--   tag:key-bucket:<key> hash  the key's token bucket (tokens, tokensAt), expiring once full again
-- Needs the message-options, priority-insert and token-bucket includes.
local KEY_GATED_OWNER = '\0k'
local KEY_WAIT_SLOT = 1e15

-- True when an attempts-hash value carries the 'k' option (the message is gated by its key).
local function isKeyGated(value)
  if not value then return false end
  local bar = string.find(value, '|', 1, true)
  return bar ~= nil and string.find(value, 'k', bar, true) ~= nil
end

-- The worker id in an owner value (a gated claim's owner carries the KEY_GATED_OWNER suffix).
local function ownerWorker(owner)
  if not owner then return owner end
  local cut = string.find(owner, '\0', 1, true)
  if cut then return string.sub(owner, 1, cut - 1) end
  return owner
end

-- The deployment tag from a key of known suffix (e.g. '{rd}:inflight' and ':inflight' -> '{rd}').
local function tagOfKey(key, suffix)
  return string.sub(key, 1, #key - #suffix)
end

-- The limits as the leader last stored them (read once per call, only when a gated message shows up).
local function keyGate(tag, now)
  local v = redis.call('HMGET', tag .. ':key-limits', 'concurrency', 'rate', 'burst', 'hold', 'highWater',
    'workerTtl', 'sticky')
  return { tag = tag, now = now, concurrency = tonumber(v[1] or '0') or 0, rate = tonumber(v[2] or '0') or 0,
    burst = tonumber(v[3] or '1') or 1, hold = v[4] == '1', highWater = tonumber(v[5] or '1000') or 1000,
    workerTtl = tonumber(v[6] or '10000') or 10000, sticky = v[7] == '1' }
end

-- 'ok' when `key` may have one more message in flight now (taking a token), else why not ('concurrency'
-- or 'rate') and, for 'rate', when the key's next token is due.
local function keyCanAdmit(g, key)
  if g.concurrency > 0 then
    local busy = tonumber(redis.call('HGET', g.tag .. ':key-busy', key) or '0')
    if busy >= g.concurrency then return 'concurrency', KEY_WAIT_SLOT end
  end
  if g.rate > 0 then
    local bucket = g.tag .. ':key-bucket:' .. key
    local tokens = refillBucket(bucket, g.rate, g.burst, g.now)
    if tokens < 1 then
      return 'rate', g.now + storeBucket(bucket, tokens, g.rate, g.now)
    end
    storeBucket(bucket, tokens - 1, g.rate, g.now)
    -- Absent is full: the bucket goes away once it would have refilled, so idle keys cost nothing.
    redis.call('PEXPIRE', bucket, math.ceil((g.burst - tokens + 1) * 1000 / g.rate) + 1)
  end
  return 'ok', 0
end

-- `id` of `key` is admitted: it takes a slot (with a concurrency limit) until acked or dead-lettered.
local function keyTakeSlot(g, key, id)
  if g.concurrency > 0 then
    redis.call('HINCRBY', g.tag .. ':key-busy', key, 1)
    redis.call('HSET', g.tag .. ':key-of', id, '+' .. key)
  else
    redis.call('HSET', g.tag .. ':key-of', id, '-' .. key)
  end
end

-- Admits `id` now ('ok': the caller routes it) or holds it in its key's list behind the others (returns
-- why: 'concurrency' | 'rate'). A key with messages waiting admits nothing new ahead of them. `leader`
-- false (an admin's dlq replay): no token is taken outside the leader; a rate-limited key's replay waits
-- for the leader's next release.
local function keyAdmitOrHold(g, key, id, priority, attemptsKey, leader)
  local held = g.tag .. ':key-held:' .. key
  local wait = g.tag .. ':key-wait'
  local why, due
  if redis.call('LLEN', held) > 0 then
    local score = tonumber(redis.call('ZSCORE', wait, key) or '')
    why = (score == nil or score >= KEY_WAIT_SLOT) and 'concurrency' or 'rate'
    -- A waiting key the leader does not know of (should not happen): let its next release look now.
    if score == nil then due = g.now end
  elseif not leader and g.rate > 0 then
    why, due = 'rate', g.now
  else
    why, due = keyCanAdmit(g, key)
    if why == 'ok' then
      keyTakeSlot(g, key, id)
      return 'ok'
    end
  end
  redis.call('HSET', g.tag .. ':key-of', id, '-' .. key)
  if priority > 0 then insertByPriority(held, attemptsKey, id, priority) else redis.call('RPUSH', held, id) end
  if due then redis.call('ZADD', wait, 'NX', due, key) end
  return why
end

-- Admits up to `max` of `key`'s held messages, oldest first, handing each to `route`; then records when
-- the leader should look at the key again (or forgets it when nothing of it waits). Returns the count.
local function keyAdmitHeld(g, key, route, max)
  local held = g.tag .. ':key-held:' .. key
  local wait = g.tag .. ':key-wait'
  local admitted = 0
  while admitted < max do
    if redis.call('LLEN', held) == 0 then
      redis.call('ZREM', wait, key)
      return admitted
    end
    local why, due = keyCanAdmit(g, key)
    if why ~= 'ok' then
      redis.call('ZADD', wait, due, key)
      return admitted
    end
    local id = redis.call('LPOP', held)
    keyTakeSlot(g, key, id)
    route(id)
    admitted = admitted + 1
  end
  if redis.call('LLEN', held) == 0 then redis.call('ZREM', wait, key) end
  return admitted
end

-- A gated message left for good (acked: `forget`, or dead-lettered): frees its slot, if it held one, and
-- lets the key's next message in — at once with a concurrency limit alone (handed to `route`), through
-- the leader's next release when the key is also rate-limited (it takes tokens on the leader's clock).
local function keyFreeSlot(g, id, forget, route)
  local keyOf = g.tag .. ':key-of'
  local value = redis.call('HGET', keyOf, id)
  if not value then return end
  local key = string.sub(value, 2)
  if forget then redis.call('HDEL', keyOf, id) else redis.call('HSET', keyOf, id, '-' .. key) end
  if string.sub(value, 1, 1) ~= '+' then return end
  if redis.call('HINCRBY', g.tag .. ':key-busy', key, -1) <= 0 then redis.call('HDEL', g.tag .. ':key-busy', key) end
  if g.rate > 0 then
    if redis.call('LLEN', g.tag .. ':key-held:' .. key) > 0 then redis.call('ZADD', g.tag .. ':key-wait', g.now, key) end
    return
  end
  keyAdmitHeld(g, key, route, 1)
end

-- Where a settle sends the key's next message: while the leader holds routing (paused, or a
-- cluster-wide rate limit) to the held list; else to the shortest queue of a live worker with room (ties
-- spread by the id, so a key moves between workers and a worker that joins gets its share; a worker's
-- BLMOVE wakes at once), or with REDISPATCH_ROUTING=affinity to the settling worker's own queue (the
-- key's worker); the backlog's head when none qualifies (a queue of an unregistered worker is never
-- reaped). The leader stores highWater, workerTtl and sticky beside the limits.
local function keySettleRoute(tag, worker, g)
  local live = nil
  return function(id)
    if g.hold or redis.call('HGET', tag .. ':flow', 'state') == 'paused' then
      redis.call('RPUSH', tag .. ':flow-held', id)
      return
    end
    local target = nil
    if g.sticky then
      if redis.call('ZSCORE', tag .. ':workers', worker) then target = worker end
    else
      live = live or redis.call('ZRANGEBYSCORE', tag .. ':workers', g.now - g.workerTtl, '+inf')
      local best, ties = nil, {}
      for _, w in ipairs(live) do
        local length = redis.call('LLEN', tag .. ':q:' .. w)
        if length < g.highWater then
          if best == nil or length < best then
            best, ties = length, { w }
          elseif length == best then
            ties[#ties + 1] = w
          end
        end
      end
      if #ties > 0 then
        local spread = 0
        for i = math.max(1, #id - 3), #id do spread = spread * 31 + string.byte(id, i) end
        target = ties[(spread % #ties) + 1]
      end
    end
    if target then
      redis.call('RPUSH', tag .. ':q:' .. target, id)
    else
      redis.call('LPUSH', tag .. ':backlog', id)
    end
  end
end
