--[[
  Streams mode: the leader's upkeep of ONE partition per tick, fenced: promotes due delayed
  messages back into the stream (a prioritized one into the priority stream), trims the stream with MINID no newer than the group's oldest
  pending entry (nor past its last delivered one), removes consumers that are gone and own nothing,
  and reports the partition's gauges.

  KEYS[1] fence            string  partition fencing epoch
  KEYS[2] stream           stream  the partition
  KEYS[3] delayed          zset    message id -> due time (server ms)
  KEYS[4] delayedBody      hash    message id -> payload
  KEYS[5] delayedAttempts  hash    message id -> attempts so far ("<attempts>|<own limit>" with one), then
                                   "x<hex>" after a traced nack (promoted as the entry's 'l' field) and
                                   "q<level>" for a prioritized message
  KEYS[6] dlq              stream  dead letters
  KEYS[7] errors           hash    message id -> last handler error, while delayed
  KEYS[8] priorityStream   stream  messages with priority 1..9: a due one with a level is promoted here;
                                   kept like KEYS[2] once it exists (its counts are added to the gauges)

  ARGV[1] epoch          the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] group
  ARGV[3] promoteLimit   most delayed messages promoted per call
  ARGV[4..]              ids of the live workers (consumers not among them, with nothing pending, are removed)

  Returns: {promoted, trimmed, consumersRemoved, length, pending, undelivered, delayed, deadLetters, nowMs, oldestPendingMs}
  Errors:  {-1} when the epoch is stale.
]]
--- @include now
--- @include priority-stream
--- @include stream-upkeep
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local group = ARGV[2]
local now = nowMs()
local promoted = 0
local priorityReady = false
local due = rcall('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  local payload = rcall('HGET', KEYS[4], id)
  if payload then
    local earlier, level = splitPriority(rcall('HGET', KEYS[5], id))
    local link
    earlier, link = splitAttemptLink(earlier)
    local target, tail = KEYS[2], {}
    if level then
      if not priorityReady then
        ensurePriorityStream(KEYS[8], group)
        priorityReady = true
      end
      target, tail = KEYS[8], {'q', level}
    end
    if link then tail[#tail + 1], tail[#tail + 2] = 'l', link end
    -- "<attempts>|<limit>" when the message carries its own attempt limit.
    local bar = earlier and string.find(earlier, '|', 1, true)
    if bar then
      rcall('XADD', target, '*', 'i', id, 'p', payload, 'n', string.sub(earlier, 1, bar - 1),
        'm', string.sub(earlier, bar + 1), unpack(tail))
    elseif earlier then
      rcall('XADD', target, '*', 'i', id, 'p', payload, 'n', earlier, unpack(tail))
    else
      rcall('XADD', target, '*', 'i', id, 'p', payload, unpack(tail))
    end
    promoted = promoted + 1
  end
  rcall('ZREM', KEYS[3], id)
  rcall('HDEL', KEYS[4], id)
  rcall('HDEL', KEYS[5], id)
  rcall('HDEL', KEYS[7], id)
end

if rcall('EXISTS', KEYS[2]) == 0 then
  pcall(rcall, 'XGROUP', 'CREATE', KEYS[2], group, '0', 'MKSTREAM')
end
local live = {}
for i = 4, #ARGV do live[ARGV[i]] = true end
local trimmed, removed, length, pendingCount, undelivered, oldestPendingMs = upkeepStream(KEYS[2], group, live)
if rcall('EXISTS', KEYS[8]) == 1 then
  local t, r, l, p, u, o = upkeepStream(KEYS[8], group, live)
  trimmed, removed, length, pendingCount = trimmed + t, removed + r, length + l, pendingCount + p
  undelivered = (undelivered < 0 or u < 0) and -1 or undelivered + u
  if o >= 0 and (oldestPendingMs < 0 or o < oldestPendingMs) then oldestPendingMs = o end
end
return {promoted, trimmed, removed, length, pendingCount, undelivered,
  rcall('ZCARD', KEYS[3]), rcall('XLEN', KEYS[6]), now, oldestPendingMs}
