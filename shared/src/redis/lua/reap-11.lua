--[[
  The leader's reaper, one fenced call per tick: reassigns the queue and in-flight messages of
  workers whose heartbeat stopped, redelivers claims whose deadline passed, promotes due delayed
  messages into the backlog (a prioritized one to the head of the shortest live queue, ahead of lower
  priorities), and reports the live workers for routing. Per-key limits (includes/list-key-gate.lua): a
  redelivered message keeps its key's slot; a dead letter frees it and lets the key's next message into
  the backlog; a due delayed message of a gated key is admitted or held in its key's list.

  KEYS[1]  epoch     string  fencing epoch
  KEYS[2]  workers   zset    worker id -> last heartbeat (server ms)
  KEYS[3]  inflight  zset    claimed id -> ack deadline (server ms)
  KEYS[4]  delayed   zset    id -> due time (server ms)
  KEYS[5]  backlog   list    ids waiting for routing
  KEYS[6]  owner     hash    claimed id -> worker id
  KEYS[7]  attempts  hash    id -> deliveries so far
  KEYS[8]  errors    hash    id -> last error
  KEYS[9]  dlq       zset    dead-lettered id -> time
  KEYS[10] totals    hash    cluster-wide counters
  KEYS[11] body      hash    id -> payload

  ARGV[1] epoch        the caller's epoch
  ARGV[2] workerTtlMs  heartbeat age after which a worker is dead
  ARGV[3] maxAttempts  deliveries before dead-lettering (a message's own limit, kept in KEYS[7], wins)
  ARGV[4] limit        most entries of each kind handled per call (bounds the script's run time)
  ARGV[5] tag          key prefix with hash tag, e.g. "{rd}"; per-worker keys are tag..":q:"..id and
                       tag..":held:"..id (same slot as every KEYS entry), and the per-key keys of
                       includes/list-key-gate.lua

  Returns: {deadWorkers, timedOut, workerLost, deadLettered, promoted, backlog, inflight, delayed,
            deadLetters, nowMs, earliestDeadline (-1 if none), keyHeldConcurrency, keyHeldRate,
            (liveWorkerId, queueLength)...}
  Errors:  {-1} when the epoch is stale.
]]
--- @include now
--- @include push-chunked
--- @include message-options
--- @include priority-insert
--- @include requeue-or-dead-letter
--- @include token-bucket
--- @include list-key-gate
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local keys = { backlog = KEYS[5], attempts = KEYS[7], errors = KEYS[8], dlq = KEYS[9], totals = KEYS[10],
  body = KEYS[11] }
local now = nowMs()
local ttl = tonumber(ARGV[2])
local maxAttempts = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local tag = ARGV[5]
local deadWorkers, timedOut, workerLost, deadLettered, promoted = 0, 0, 0, 0, 0
local keyHeld = { concurrency = 0, rate = 0 }
-- Per-key limits, read only when a gated message shows up; a freed slot's next message joins the backlog.
local gate = nil
local function keyGateNow()
  if not gate then
    gate = keyGate(tag, now)
    gate.route = function(id) rcall('RPUSH', KEYS[5], id) end
  end
  return gate
end
local function afterRequeue(id, outcome, value)
  if outcome == 1 and isKeyGated(value) then
    local g = keyGateNow()
    keyFreeSlot(g, id, false, g.route)
  end
end

local dead = rcall('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - ttl), 'LIMIT', 0, limit)
for _, worker in ipairs(dead) do
  local queue = tag .. ':q:' .. worker
  local held = tag .. ':held:' .. worker
  -- Queued but never claimed: back to routing as they are (no attempt was used).
  local queued = rcall('LRANGE', queue, 0, -1)
  if #queued > 0 then
    for i = #queued, 1, -1 do rcall('LPUSH', KEYS[5], queued[i]) end
    rcall('DEL', queue)
  end
  -- Claimed: the attempt counts, since the handler may have been what killed the worker.
  for _, id in ipairs(rcall('SMEMBERS', held)) do
    rcall('ZREM', KEYS[3], id)
    rcall('HDEL', KEYS[6], id)
    local outcome, value = requeueOrDeadLetter(keys, id, maxAttempts, 'worker ' .. worker .. ' lost', now)
    afterRequeue(id, outcome, value)
    if outcome == 1 then deadLettered = deadLettered + 1 elseif outcome == 0 then workerLost = workerLost + 1 end
  end
  rcall('DEL', held)
  rcall('ZREM', KEYS[2], worker)
  deadWorkers = deadWorkers + 1
end

local expired = rcall('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  rcall('ZREM', KEYS[3], id)
  local worker = ownerWorker(rcall('HGET', KEYS[6], id))
  if worker then
    rcall('SREM', tag .. ':held:' .. worker, id)
    rcall('HDEL', KEYS[6], id)
  end
  local outcome, value = requeueOrDeadLetter(keys, id, maxAttempts, 'ack timeout', now)
  afterRequeue(id, outcome, value)
  if outcome == 1 then deadLettered = deadLettered + 1 elseif outcome == 0 then timedOut = timedOut + 1 end
end

local due = rcall('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, limit)
if #due > 0 then
  pushChunked('ZREM', KEYS[4], due)
  -- A due message with a priority goes ahead of lower priorities in the backlog, the rest to its tail.
  local values = hmgetChunked(KEYS[7], due)
  local plain, prioritized = {}, {}
  for i, id in ipairs(due) do
    local admitted = true
    if isKeyGated(values[i]) then
      -- Delayed before it was ever admitted ('-'): its key's limits apply now. A retry ('+') keeps its slot.
      local of = rcall('HGET', tag .. ':key-of', id)
      if of and string.sub(of, 1, 1) == '-' then
        local why = keyAdmitOrHold(keyGateNow(), string.sub(of, 2), id, priorityOf(values[i]), KEYS[7], true)
        if why ~= 'ok' then
          admitted = false
          keyHeld[why] = keyHeld[why] + 1
        end
      end
    end
    if admitted and values[i] and priorityOf(values[i]) > 0 then
      prioritized[#prioritized + 1] = i
    elseif admitted then
      plain[#plain + 1] = id
    end
  end
  if #plain > 0 then pushChunked('RPUSH', KEYS[5], plain) end
  if #prioritized > 0 then
    -- Straight to the head of the shortest live queue: the backlog drains only when queues run dry.
    local target, shortest = KEYS[5], nil
    for _, worker in ipairs(rcall('ZRANGEBYSCORE', KEYS[2], now - ttl, '+inf')) do
      local length = rcall('LLEN', tag .. ':q:' .. worker)
      if shortest == nil or length < shortest then
        shortest = length
        target = tag .. ':q:' .. worker
      end
    end
    for _, i in ipairs(prioritized) do insertByPriority(target, KEYS[7], due[i], priorityOf(values[i])) end
  end
  promoted = #due
end

local earliest = rcall('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local result = {deadWorkers, timedOut, workerLost, deadLettered, promoted,
  rcall('LLEN', KEYS[5]), rcall('ZCARD', KEYS[3]), rcall('ZCARD', KEYS[4]), rcall('ZCARD', KEYS[9]), now,
  tonumber(earliest[2] or '-1'), keyHeld.concurrency, keyHeld.rate}
for _, worker in ipairs(rcall('ZRANGEBYSCORE', KEYS[2], now - ttl, '+inf')) do
  result[#result + 1] = worker
  result[#result + 1] = rcall('LLEN', tag .. ':q:' .. worker)
end
return result
