--[[
  The leader's batch write, in ONE fenced call: accepts new messages (deduplicating publisher ids,
  parking delayed ones), drains the backlog, and assigns the rest to live workers with room
  (round-robin or least-loaded; affinity messages to their chosen worker). Messages rejected before
  routing are dead-lettered with their reason. Retrying a batch whose reply was lost is safe: an id
  already stored is not accepted twice.

  KEYS[1]   epoch     string  fencing epoch
  KEYS[2]   body      hash    id -> payload (opaque bytes, envelope header included)
  KEYS[3]   backlog   list    accepted ids no worker had room for (routed first, FIFO)
  KEYS[4]   totals    hash    cluster-wide counters
  KEYS[5]   dlq       zset    dead-lettered id -> time (ms)
  KEYS[6]   errors    hash    id -> last error / dead-letter reason
  KEYS[7]   progress  string  the leader's last-written marker, for failover replay
  KEYS[8]   workers   zset    worker id -> last heartbeat; a queue whose worker was reaped (absent) or
                              is silent past the TTL gets nothing, so a batch sent before the leader
                              learned of a death cannot strand messages in an orphaned queue
  KEYS[9]   delayed   zset    id -> due time (server ms)
  KEYS[10]  attempts  hash    id -> deliveries; written here only for messages with per-message
                              options ("0|a<max>p<priority>", see includes/message-options.lua)
  KEYS[11..] queues   list    one per worker the leader believes live, in round-robin order

  ARGV[1]  epoch          the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2]  highWater      a queue this long is skipped (backpressure)
  ARGV[3]  rrStart        1-based queue index to start round-robin at
  ARGV[4]  newCount       number of new-message 4-tuples that follow the worker ids
  ARGV[5]  deadCount      number of (id, payload, reason) triples after them
  ARGV[6]  progress       marker to store in KEYS[7] ('' = leave as is)
  ARGV[7]  workerTtlMs    heartbeat age after which a worker counts as dead
  ARGV[8]  routing        'round-robin' | 'least-loaded' (affinity placements are per message)
  ARGV[9]  dedupeWindowMs how long a publisher id is remembered
  ARGV[10] tag            key prefix with hash tag; dedupe keys are tag..':dedupe:'..publisherId
  ARGV[11..]              one worker id per queue key (same order), then newCount x
                          (id, payload, publisherId or '', placement), then deadCount x (id, payload, reason)
           placement: ''            route now
                      'd<ms>'       park in the delayed set until now + ms (server clock)
                      'D<epochMs>'  park until that absolute time
                      'q<index>'    affinity: this worker's queue, even past the high-water mark
                      any of them + '|' + options ('a<maxAttempts>', 'p<priority>'): the message's own
                      attempt limit; priority 1..9 goes to the head of a live queue (ahead of lower
                      priorities, even past the high-water mark), or of the backlog when none is live
                      then, only while a per-key limit is set and the message has an affinity key,
                      NUL + the key: admitted (a slot and a token) or held in the key's list
                      (includes/list-key-gate.lua, limits from tag:key-limits); a delayed one is gated when due

  Returns: {routed, backlogged, rrNext, accepted, duplicates, deadLettered, delayed, deduplicated,
            keyHeldConcurrency, keyHeldRate}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include push-chunked
--- @include message-options
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local now = nowMs()
local highWater = tonumber(ARGV[2])
local rr = tonumber(ARGV[3])
local newCount = tonumber(ARGV[4])
local deadCount = tonumber(ARGV[5])
local leastLoaded = ARGV[8] == 'least-loaded'
local dedupeWindow = tonumber(ARGV[9])
local tag = ARGV[10]
local queueCount = #KEYS - 10
local liveSince = now - tonumber(ARGV[7])

local room = {}
local live = {}
local totalRoom = 0
for q = 1, queueCount do
  local beat = rcall('ZSCORE', KEYS[8], ARGV[10 + q])
  local free = 0
  live[q] = beat ~= false and tonumber(beat) >= liveSince
  if live[q] then
    free = highWater - rcall('LLEN', KEYS[10 + q])
    if free < 0 then free = 0 end
  end
  room[q] = free
  totalRoom = totalRoom + free
end

local assigned = {}
for q = 1, queueCount do assigned[q] = {} end

-- Backlog first, so what waited longest goes out first.
local pending = {}
if totalRoom > 0 then
  local waiting = rcall('LPOP', KEYS[3], totalRoom)
  if waiting then
    for i = 1, #waiting do pending[#pending + 1] = waiting[i] end
  end
end

local accepted, duplicates, deduplicated, delayedCount = 0, 0, 0, 0
local base = 11 + queueCount
-- One existence read and one variadic write for the whole batch (HSETNX per message costs ~10x more).
local newIds = {}
for i = 0, newCount - 1 do newIds[#newIds + 1] = ARGV[base + i * 4] end
local existing = hmgetChunked(KEYS[2], newIds)
local stored = {}
local withOptions = {}
local urgent = {}
local keyHeld = { concurrency = 0, rate = 0 }
local gate = nil
-- Where an admitted new message goes: the delayed set, the urgent (prioritized) list, its affinity
-- worker's queue, or round-robin routing.
local function place(id, kind, placement, priority)
  if kind == 'd' then
    rcall('ZADD', KEYS[9], now + tonumber(string.sub(placement, 2)), id)
    delayedCount = delayedCount + 1
  elseif kind == 'D' then
    rcall('ZADD', KEYS[9], tonumber(string.sub(placement, 2)), id)
    delayedCount = delayedCount + 1
  elseif priority > 0 then
    urgent[#urgent + 1] = {id, priority, kind == 'q' and tonumber(string.sub(placement, 2)) or 0}
  elseif kind == 'q' and live[tonumber(string.sub(placement, 2))] then
    local q = tonumber(string.sub(placement, 2))
    local list = assigned[q]
    list[#list + 1] = id
    room[q] = room[q] - 1
  else
    pending[#pending + 1] = id
  end
end
for i = 1, newCount do
  local id, payload, publisherId, placement = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  base = base + 4
  local options = nil
  local key = nil
  local nul = string.find(placement, '\0', 1, true)
  if nul then
    key = string.sub(placement, nul + 1)
    placement = string.sub(placement, 1, nul - 1)
  end
  local bar = string.find(placement, '|', 1, true)
  if bar then
    options = string.sub(placement, bar)
    placement = string.sub(placement, 1, bar - 1)
  end
  local fresh = true
  if existing[i] then
    -- Already stored: a retried batch whose first reply was lost.
    fresh = false
    duplicates = duplicates + 1
  elseif publisherId ~= '' then
    local dedupeKey = tag .. ':dedupe:' .. publisherId
    if not rcall('SET', dedupeKey, id, 'NX', 'PX', dedupeWindow) and rcall('GET', dedupeKey) ~= id then
      fresh = false
      deduplicated = deduplicated + 1
    end
  end
  if fresh then
    stored[#stored + 1] = id
    stored[#stored + 1] = payload
    accepted = accepted + 1
    local kind = string.sub(placement, 1, 1)
    local priority = 0
    if options then priority = priorityOf(options) end
    if key then options = (options or '|') .. 'k' end
    if options then
      withOptions[#withOptions + 1] = id
      withOptions[#withOptions + 1] = '0' .. options
    end
    local held = false
    if key and kind ~= 'd' and kind ~= 'D' then
      gate = gate or keyGate(tag, now)
      local why = keyAdmitOrHold(gate, key, id, priority, KEYS[10], true)
      if why ~= 'ok' then
        held = true
        keyHeld[why] = keyHeld[why] + 1
      end
    elseif key then
      -- Delayed: gated when due (reap-11.lua), so it holds no slot while it waits.
      rcall('HSET', tag .. ':key-of', id, '-' .. key)
    end
    if not held then place(id, kind, placement, priority) end
  end
end
if #stored > 0 then pushChunked('HSET', KEYS[2], stored) end
if #withOptions > 0 then pushChunked('HSET', KEYS[10], withOptions) end

local overflow = {}
for i = 1, #pending do
  local chosen = nil
  if leastLoaded then
    local best = 0
    for q = 1, queueCount do
      if room[q] > best then
        best = room[q]
        chosen = q
      end
    end
  else
    for step = 0, queueCount - 1 do
      local q = ((rr - 1 + step) % queueCount) + 1
      if room[q] > 0 then
        chosen = q
        rr = (q % queueCount) + 1
        break
      end
    end
  end
  if chosen then
    local list = assigned[chosen]
    list[#list + 1] = pending[i]
    room[chosen] = room[chosen] - 1
  else
    overflow[#overflow + 1] = pending[i]
  end
end

local routed = 0
for q = 1, queueCount do
  if #assigned[q] > 0 then
    pushChunked('RPUSH', KEYS[10 + q], assigned[q])
    routed = routed + #assigned[q]
  end
end
if #overflow > 0 then
  pushChunked('RPUSH', KEYS[3], overflow)
end

-- Prioritized messages last, so each goes ahead of everything queued above: to its affinity worker
-- or the live queue with the most room, past the high-water mark if need be (it is few, and waiting
-- in the backlog behind lower priorities would defeat it); to the backlog only when no queue is live.
for _, u in ipairs(urgent) do
  local id, priority, chosen = u[1], u[2], u[3]
  if chosen == 0 or not live[chosen] then
    chosen = nil
    local best = nil
    for q = 1, queueCount do
      if live[q] and (best == nil or room[q] > best) then
        best = room[q]
        chosen = q
      end
    end
  end
  if chosen then
    insertByPriority(KEYS[10 + chosen], KEYS[10], id, priority)
    room[chosen] = room[chosen] - 1
    routed = routed + 1
  else
    insertByPriority(KEYS[3], KEYS[10], id, priority)
    overflow[#overflow + 1] = id
  end
end

local deadLettered = 0
for _ = 1, deadCount do
  local id = ARGV[base]
  if rcall('HSETNX', KEYS[2], id, ARGV[base + 1]) == 1 then
    rcall('HSET', KEYS[6], id, ARGV[base + 2])
    rcall('ZADD', KEYS[5], now, id)
    deadLettered = deadLettered + 1
  end
  base = base + 3
end

if accepted + deadLettered > 0 then
  rcall('HINCRBY', KEYS[4], 'accepted', accepted + deadLettered)
end
if deadLettered > 0 then rcall('HINCRBY', KEYS[4], 'deadLettered', deadLettered) end
if routed > 0 then rcall('HINCRBY', KEYS[4], 'dispatched', routed) end
if deduplicated > 0 then rcall('HINCRBY', KEYS[4], 'deduplicated', deduplicated) end
if ARGV[6] ~= '' then rcall('SET', KEYS[7], ARGV[6]) end
return {routed, #overflow, rr, accepted, duplicates, deadLettered, delayedCount, deduplicated,
  keyHeld.concurrency, keyHeld.rate}
