--[[
  The leader's batch write: accepts new messages, drains the backlog, and assigns everything
  round-robin to live workers with room, in ONE fenced call. Retrying a batch whose reply was lost
  is safe: an id already stored is not accepted twice.

  KEYS[1]   epoch     string  fencing epoch
  KEYS[2]   body      hash    id -> payload (opaque bytes)
  KEYS[3]   backlog   list    accepted ids no worker had room for (routed first, FIFO)
  KEYS[4]   totals    hash    cluster-wide counters
  KEYS[5]   dlq       zset    dead-lettered id -> time (ms)
  KEYS[6]   errors    hash    id -> last error / dead-letter reason
  KEYS[7]   progress  string  the leader's last-written marker, for failover replay
  KEYS[8]   workers   zset    worker id -> last heartbeat; a queue whose worker was reaped (absent) or
                              is silent past the TTL gets nothing, so a batch sent before the leader
                              learned of a death cannot strand messages in an orphaned queue
  KEYS[9..] queues    list    one per worker the leader believes live, in round-robin order

  ARGV[1] epoch        the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] highWater    a queue this long is skipped (backpressure)
  ARGV[3] rrStart      1-based queue index to start round-robin at
  ARGV[4] newCount     number of (id, payload) pairs that follow
  ARGV[5] deadCount    number of (id, payload, reason) triples after them (rejected before routing)
  ARGV[6] progress     marker to store in KEYS[7] ('' = leave as is)
  ARGV[7] workerTtlMs  heartbeat age after which a worker counts as dead
  ARGV[8..]            one worker id per queue key (same order), then newCount x (id, payload),
                       then deadCount x (id, payload, reason)

  Returns: {routed, backlogged, rrNext, accepted, duplicates, deadLettered}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include push-chunked
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local highWater = tonumber(ARGV[2])
local rr = tonumber(ARGV[3])
local newCount = tonumber(ARGV[4])
local deadCount = tonumber(ARGV[5])
local queueCount = #KEYS - 8
local liveSince = nowMs() - tonumber(ARGV[7])

local room = {}
local totalRoom = 0
for q = 1, queueCount do
  local beat = rcall('ZSCORE', KEYS[8], ARGV[7 + q])
  local free = 0
  if beat and tonumber(beat) >= liveSince then
    free = highWater - rcall('LLEN', KEYS[8 + q])
    if free < 0 then free = 0 end
  end
  room[q] = free
  totalRoom = totalRoom + free
end

-- Backlog first, so what waited longest goes out first.
local pending = {}
if totalRoom > 0 then
  local waiting = rcall('LPOP', KEYS[3], totalRoom)
  if waiting then
    for i = 1, #waiting do pending[#pending + 1] = waiting[i] end
  end
end

local accepted, duplicates = 0, 0
local base = 8 + queueCount
for i = 1, newCount do
  local id = ARGV[base]
  if rcall('HSETNX', KEYS[2], id, ARGV[base + 1]) == 1 then
    accepted = accepted + 1
    pending[#pending + 1] = id
  else
    duplicates = duplicates + 1
  end
  base = base + 2
end

local assigned = {}
for q = 1, queueCount do assigned[q] = {} end
local overflow = {}
for i = 1, #pending do
  local placed = false
  for step = 0, queueCount - 1 do
    local q = ((rr - 1 + step) % queueCount) + 1
    if room[q] > 0 then
      local list = assigned[q]
      list[#list + 1] = pending[i]
      room[q] = room[q] - 1
      rr = (q % queueCount) + 1
      placed = true
      break
    end
  end
  if not placed then overflow[#overflow + 1] = pending[i] end
end

local routed = 0
for q = 1, queueCount do
  if #assigned[q] > 0 then
    pushChunked('RPUSH', KEYS[8 + q], assigned[q])
    routed = routed + #assigned[q]
  end
end
if #overflow > 0 then
  pushChunked('RPUSH', KEYS[3], overflow)
end

local deadLettered = 0
if deadCount > 0 then
  local now = nowMs()
  for i = 1, deadCount do
    local id = ARGV[base]
    if rcall('HSETNX', KEYS[2], id, ARGV[base + 1]) == 1 then
      rcall('HSET', KEYS[6], id, ARGV[base + 2])
      rcall('ZADD', KEYS[5], now, id)
      deadLettered = deadLettered + 1
    end
    base = base + 3
  end
end

if accepted + deadLettered > 0 then
  rcall('HINCRBY', KEYS[4], 'accepted', accepted + deadLettered)
end
if deadLettered > 0 then rcall('HINCRBY', KEYS[4], 'deadLettered', deadLettered) end
if routed > 0 then rcall('HINCRBY', KEYS[4], 'dispatched', routed) end
if ARGV[6] ~= '' then rcall('SET', KEYS[7], ARGV[6]) end
return {routed, #overflow, rr, accepted, duplicates, deadLettered}
