-- Per-key limits in streams mode (REDISPATCH_KEY_CONCURRENCY, REDISPATCH_KEY_RATE_LIMIT;
-- docs/flow-control.md). A key's messages share one partition, so its state lives in that
-- partition's slot, under one prefix `g` (PartitionKeys.keyGate):
--   g..'cfg'      hash  concurrency, rate, burst, paused ('1' while `redispatch pause` holds routing) as
--                       the leader last wrote them (workers read them)
--   g..'c'        hash  key -> its entries in flight (concurrency limit only; those entries carry 'k')
--   g..'h:'..key  list  the key's held message ids, oldest first
--   g..'b'        hash  held message id -> "<own attempt limit or ''>|<payload>"
--   g..'d'        hash  delayed message id -> 's<key>' (a retry keeping its slot) or 'g<key>' (fresh:
--                       enters the gate when due)
--   g..'t:'..key  hash  the key's token bucket (tokens, tokensAt), expiring once it would be full
--   g..'due'      zset  key -> when its next token is due (server ms), for the leader's release
--   g..'w'        set   keys with held messages
-- Needs the includes now and token-bucket before it.

local function gateConfig(g)
  local v = redis.call('HMGET', g .. 'cfg', 'concurrency', 'rate', 'burst', 'paused')
  return {concurrency = tonumber(v[1]) or 0, rate = tonumber(v[2]) or 0, burst = tonumber(v[3]) or 0,
    paused = v[4] == '1'}
end

-- Takes a slot and a token for one message of `key` when both are free. Otherwise returns the limit
-- that holds it ('concurrency' or 'rate') and, for the rate, when the key's next token is due.
local function gateTake(g, cfg, key, now)
  if cfg.concurrency > 0 and tonumber(redis.call('HGET', g .. 'c', key) or '0') >= cfg.concurrency then
    return 'concurrency'
  end
  if cfg.rate > 0 then
    local bucket = g .. 't:' .. key
    local tokens = refillBucket(bucket, cfg.rate, cfg.burst, now)
    if tokens < 1 then return 'rate', now + math.ceil((1 - tokens) * 1000 / cfg.rate) end
    storeBucket(bucket, tokens - 1, cfg.rate, now)
    -- A missing bucket is a full one: it may go once it would have refilled.
    redis.call('PEXPIRE', bucket, math.ceil(cfg.burst * 1000 / cfg.rate) + 1000)
  end
  if cfg.concurrency > 0 then redis.call('HINCRBY', g .. 'c', key, 1) end
  return nil
end

-- XADDs a message; `slot`: it holds one of its key's slots, so 'k' names the key for its final settle.
local function gateAppend(stream, slot, key, id, payload, earlier, limit)
  local fields = {'i', id, 'p', payload}
  if earlier then fields[#fields + 1] = 'n'; fields[#fields + 1] = earlier end
  if limit then fields[#fields + 1] = 'm'; fields[#fields + 1] = limit end
  if slot then fields[#fields + 1] = 'k'; fields[#fields + 1] = key end
  redis.call('XADD', stream, '*', unpack(fields))
end

-- Appends the key's held messages, oldest first, while a slot and a token are free (at most `max`);
-- returns how many went out.
local function gatePump(g, cfg, stream, key, now, max)
  local list = g .. 'h:' .. key
  local released = 0
  while released < max do
    local id = redis.call('LINDEX', list, 0)
    if not id then break end
    local reason, due = gateTake(g, cfg, key, now)
    if reason then
      if due then redis.call('ZADD', g .. 'due', due, key) end
      break
    end
    local held = redis.call('HGET', g .. 'b', id) or '|'
    local bar = string.find(held, '|', 1, true)
    local limit = bar > 1 and string.sub(held, 1, bar - 1) or nil
    -- Appended before it leaves the held list: a refused XADD (a worker user without the ACL rule
    -- for per-key limits) fails the call with the message still held, never lost.
    gateAppend(stream, cfg.concurrency > 0, key, id, string.sub(held, bar + 1), nil, limit)
    redis.call('LPOP', list)
    redis.call('HDEL', g .. 'b', id)
    released = released + 1
  end
  if redis.call('EXISTS', list) == 0 then
    redis.call('SREM', g .. 'w', key)
    redis.call('ZREM', g .. 'due', key)
  end
  return released
end

-- An entry of `key` reached its final settle (ack or dead letter): frees its slot and appends the
-- key's next held message in the same call — unless routing is paused: the leader's sweep on resume
-- lets it out (streamKeyRelease-2 'all').
local function gateFree(g, stream, key, now)
  if redis.call('HINCRBY', g .. 'c', key, -1) <= 0 then redis.call('HDEL', g .. 'c', key) end
  if redis.call('EXISTS', g .. 'h:' .. key) == 0 then return 0 end
  local cfg = gateConfig(g)
  if cfg.paused then return 0 end
  return gatePump(g, cfg, stream, key, now, 1)
end
