--[[
  Streams mode: the leader's batch write into ONE partition, fenced: XADDs every new message
  (deduplicating publisher ids, parking delayed ones), dead-letters the rejected ones, and stores the
  replay marker. A retried batch whose first reply was lost is recognised by its batch tag and not
  written twice (batches go out one at a time, so the last tag per partition is enough).

  KEYS[1] fence        string  partition fencing epoch
  KEYS[2] stream       stream  the partition: entries {i = message id, p = payload, n = earlier attempts,
                               m = the message's own attempt limit, only when its publisher set one}
  KEYS[3] applied      string  tag of the last batch written here
  KEYS[4] progress     string  "<epoch> <seq> <marker>" of the last batch that carried a replay marker
  KEYS[5] delayed      zset    message id -> due time (server ms)
  KEYS[6] delayedBody  hash    message id -> payload, while delayed
  KEYS[7] dlq          stream  dead letters {i, p, r = reason, a = attempts}
  KEYS[8] totals       hash    this partition's counters
  KEYS[9] delayedAttempts hash message id -> "0|<limit>" while delayed, only for a message with its own limit
                               or priority ("[0|<limit>]q<level>", includes/priority-stream.lua)
  KEYS[10] priorityStream stream messages with priority 1..9, same fields plus q = level; made by the
                               first one (with the group), never touched otherwise

  ARGV[1] epoch           the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] batchTag        "<epoch>:<seq>", unique per batch
  ARGV[3] progress        value for KEYS[4] ('' = leave as is)
  ARGV[4] group           consumer group (created at id 0 if the stream is new)
  ARGV[5] dedupeWindowMs  how long a publisher id is remembered
  ARGV[6] dedupePrefix    key prefix in this partition's slot for publisher ids
  ARGV[7] newCount        number of (id, payload, publisherId or '', placement) tuples
  ARGV[8] deadCount       number of (id, payload, reason) triples after them
  ARGV[9..]               the tuples; placement: '' now, 'd<ms>' after a delay, 'D<epochMs>' at a time,
                          then, only for a message with options, '|' + 'a<maxAttempts>' / 'p<priority>'
                          (priority 1..9: appended to KEYS[10] instead of KEYS[2], or parked with it)

  Returns: {appended, delayed, deadLettered, deduplicated, alreadyApplied}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include priority-stream
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
if rcall('GET', KEYS[3]) == ARGV[2] then
  return {0, 0, 0, 0, 1}
end
if rcall('EXISTS', KEYS[2]) == 0 then
  pcall(rcall, 'XGROUP', 'CREATE', KEYS[2], ARGV[4], '0', 'MKSTREAM')
end
local now = nowMs()
local dedupeWindow = ARGV[5]
local dedupePrefix = ARGV[6]
local newCount = tonumber(ARGV[7])
local deadCount = tonumber(ARGV[8])
local appended, delayedCount, deadLettered, deduplicated = 0, 0, 0, 0
local priorityReady = false
local base = 9
for _ = 1, newCount do
  local id, payload, publisherId, placement = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  base = base + 4
  local fresh = true
  if publisherId ~= '' then
    local dedupeKey = dedupePrefix .. publisherId
    if not rcall('SET', dedupeKey, id, 'NX', 'PX', dedupeWindow) and rcall('GET', dedupeKey) ~= id then
      fresh = false
      deduplicated = deduplicated + 1
    end
  end
  if fresh then
    local limit, level = nil, nil
    local bar = string.find(placement, '|', 1, true)
    if bar then
      limit = string.match(placement, 'a(%d+)', bar)
      level = priorityLevel(placement, bar)
      placement = string.sub(placement, 1, bar - 1)
    end
    local kind = string.sub(placement, 1, 1)
    if kind == 'd' or kind == 'D' then
      local due = tonumber(string.sub(placement, 2))
      if kind == 'd' then due = now + due end
      rcall('ZADD', KEYS[5], due, id)
      rcall('HSET', KEYS[6], id, payload)
      if limit or level then
        rcall('HSET', KEYS[9], id, (limit and ('0|' .. limit) or '') .. (level and ('q' .. level) or ''))
      end
      delayedCount = delayedCount + 1
    elseif level then
      -- Once per batch: the stream is never deleted while the batch runs.
      if not priorityReady then
        ensurePriorityStream(KEYS[10], ARGV[4])
        priorityReady = true
      end
      if limit then
        rcall('XADD', KEYS[10], '*', 'i', id, 'p', payload, 'm', limit, 'q', level)
      else
        rcall('XADD', KEYS[10], '*', 'i', id, 'p', payload, 'q', level)
      end
      appended = appended + 1
    elseif limit then
      rcall('XADD', KEYS[2], '*', 'i', id, 'p', payload, 'm', limit)
      appended = appended + 1
    else
      rcall('XADD', KEYS[2], '*', 'i', id, 'p', payload)
      appended = appended + 1
    end
  end
end
for _ = 1, deadCount do
  rcall('XADD', KEYS[7], '*', 'i', ARGV[base], 'p', ARGV[base + 1], 'r', ARGV[base + 2], 'a', '0')
  deadLettered = deadLettered + 1
  base = base + 3
end
local accepted = appended + delayedCount + deadLettered
if accepted > 0 then rcall('HINCRBY', KEYS[8], 'accepted', accepted) end
if appended > 0 then rcall('HINCRBY', KEYS[8], 'dispatched', appended) end
if deadLettered > 0 then rcall('HINCRBY', KEYS[8], 'deadLettered', deadLettered) end
if deduplicated > 0 then rcall('HINCRBY', KEYS[8], 'deduplicated', deduplicated) end
rcall('SET', KEYS[3], ARGV[2])
if ARGV[3] ~= '' then rcall('SET', KEYS[4], ARGV[3]) end
return {appended, delayedCount, deadLettered, deduplicated, 0}
