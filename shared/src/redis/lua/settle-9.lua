--[[
  A worker's acks and nacks for one event-loop turn, in one call. Only the current owner may
  settle a message: a late ack or nack from a worker whose claim expired (it was frozen, or
  declared dead) is counted as stale and changes nothing.

  KEYS[1] inflight  zset  claimed id -> deadline
  KEYS[2] owner     hash  claimed id -> worker id
  KEYS[3] held      set   ids this worker holds
  KEYS[4] attempts  hash  id -> deliveries so far
  KEYS[5] body      hash  id -> payload
  KEYS[6] errors    hash  id -> last error
  KEYS[7] delayed   zset  id -> due time (retry backoff)
  KEYS[8] dlq       zset  dead-lettered id -> time
  KEYS[9] totals    hash  cluster-wide counters

  ARGV[1] workerId
  ARGV[2] maxAttempts
  ARGV[3] ackCount    number of ids to ack that follow
  ARGV[4] nackCount   number of (id, delayMs, error) triples after them
  ARGV[5..]

  Returns: {acked, retried, deadLettered, stale}
]]
--- @include now
local rcall = redis.call
local worker = ARGV[1]
local maxAttempts = tonumber(ARGV[2])
local ackCount = tonumber(ARGV[3])
local nackCount = tonumber(ARGV[4])
local acked, retried, deadLettered, stale = 0, 0, 0, 0
local now = nowMs()

local function release(id)
  if rcall('HGET', KEYS[2], id) ~= worker then
    stale = stale + 1
    return false
  end
  rcall('ZREM', KEYS[1], id)
  rcall('HDEL', KEYS[2], id)
  rcall('SREM', KEYS[3], id)
  return true
end

local base = 5
for i = 1, ackCount do
  local id = ARGV[base]
  if release(id) then
    rcall('HDEL', KEYS[5], id)
    rcall('HDEL', KEYS[4], id)
    rcall('HDEL', KEYS[6], id)
    acked = acked + 1
  end
  base = base + 1
end

for i = 1, nackCount do
  local id, delay, err = ARGV[base], tonumber(ARGV[base + 1]), ARGV[base + 2]
  if release(id) then
    local attempts = tonumber(rcall('HGET', KEYS[4], id) or '0')
    if attempts >= maxAttempts then
      rcall('HSET', KEYS[6], id, err .. ' (attempt ' .. attempts .. ' of ' .. maxAttempts .. ')')
      rcall('ZADD', KEYS[8], now, id)
      deadLettered = deadLettered + 1
    else
      rcall('HSET', KEYS[6], id, err)
      rcall('ZADD', KEYS[7], now + delay, id)
      retried = retried + 1
    end
  end
  base = base + 3
end

if acked > 0 then rcall('HINCRBY', KEYS[9], 'acked', acked) end
if retried + deadLettered > 0 then rcall('HINCRBY', KEYS[9], 'nacked', retried + deadLettered) end
if deadLettered > 0 then rcall('HINCRBY', KEYS[9], 'deadLettered', deadLettered) end
return {acked, retried, deadLettered, stale}
