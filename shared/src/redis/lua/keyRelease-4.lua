--[[
  Lists mode, per-key limits (includes/list-key-gate.lua), fenced: stores the leader's limits where the
  batch, settle and reap scripts read them, then lets waiting keys' held messages into the backlog —
  those whose next token is due ('due'), or every waiting key ('all': on takeover, so a new leader
  with other limits re-checks them all). With both limits off it moves every held message to the
  backlog (a term that turned the limits off leaves nothing held).

  KEYS[1] epoch       string  fencing epoch
  KEYS[2] keyLimits   hash    concurrency, rate, burst, hold
  KEYS[3] keyWait     zset    key -> when to look at it (ms; KEY_WAIT_SLOT: waits for a settle)
  KEYS[4] backlog     list    where admitted messages go (the held list while the leader holds routing)

  ARGV[1] epoch        the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] concurrency  REDISPATCH_KEY_CONCURRENCY (0 = none)
  ARGV[3] rate         REDISPATCH_KEY_RATE_LIMIT, tokens per second per key (0 = none)
  ARGV[4] burst        the per-key bucket size
  ARGV[5] hold         '1' while a cluster-wide rate limit holds routing (a settle's release then goes
                       to the held list), else '0'
  ARGV[6] limit        most messages let in (and keys looked at) per call
  ARGV[7] mode         'due' | 'all'
  ARGV[8] tag          key prefix with hash tag; per-key keys are built from it (list-key-gate.lua)
  ARGV[9]  highWater   REDISPATCH_QUEUE_HIGH_WATER   } where a settle sends a key's next message
  ARGV[10] workerTtl   REDISPATCH_WORKER_TTL_MS      } (list-key-gate.lua, keySettleRoute)
  ARGV[11] sticky      '1' with REDISPATCH_ROUTING=affinity (the settling worker's own queue)

  Returns: {admitted, keys waiting, ms until the next key's token is due (-1 = none), more (1 | 0)}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include message-options
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local now = nowMs()
local concurrency, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local limit, tag = tonumber(ARGV[6]), ARGV[8]
if concurrency > 0 or rate > 0 then
  rcall('HSET', KEYS[2], 'concurrency', concurrency, 'rate', ARGV[3], 'burst', burst, 'hold', ARGV[5],
    'highWater', ARGV[9], 'workerTtl', ARGV[10], 'sticky', ARGV[11])
else
  rcall('DEL', KEYS[2])
end
local waiting
if ARGV[7] == 'all' then
  waiting = rcall('ZRANGE', KEYS[3], 0, limit - 1)
else
  waiting = rcall('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
end
local g = { tag = tag, now = now, concurrency = concurrency, rate = rate, burst = burst, hold = ARGV[5] == '1' }
local function route(id) rcall('RPUSH', KEYS[4], id) end
local admitted = 0
for _, key in ipairs(waiting) do
  if admitted >= limit then break end
  local held = tag .. ':key-held:' .. key
  if concurrency == 0 and rate == 0 then
    -- No limit any more: the key's messages are routed as any other (they hold no slot).
    local ids = rcall('LRANGE', held, 0, limit - admitted - 1)
    if #ids > 0 then
      rcall('RPUSH', KEYS[4], unpack(ids))
      rcall('HDEL', tag .. ':key-of', unpack(ids))
      rcall('LTRIM', held, #ids, -1)
      admitted = admitted + #ids
    end
    if rcall('LLEN', held) == 0 then rcall('ZREM', KEYS[3], key) end
  else
    admitted = admitted + keyAdmitHeld(g, key, route, limit - admitted)
  end
end
local nextDue = rcall('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. KEY_WAIT_SLOT, 'LIMIT', 0, 1, 'WITHSCORES')
local wait = -1
if nextDue[2] then wait = math.max(0, tonumber(nextDue[2]) - now) end
local more = (#waiting >= limit or admitted >= limit) and 1 or 0
return {admitted, rcall('ZCARD', KEYS[3]), wait, more}
