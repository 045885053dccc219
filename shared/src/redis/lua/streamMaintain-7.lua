--[[
  Streams mode: the leader's upkeep of ONE partition per tick, fenced: promotes due delayed
  messages back into the stream, trims the stream with MINID no newer than the group's oldest
  pending entry (nor past its last delivered one), removes consumers that are gone and own nothing,
  and reports the partition's gauges.

  KEYS[1] fence            string  partition fencing epoch
  KEYS[2] stream           stream  the partition
  KEYS[3] delayed          zset    message id -> due time (server ms)
  KEYS[4] delayedBody      hash    message id -> payload
  KEYS[5] delayedAttempts  hash    message id -> attempts so far ("<attempts>|<own limit>" with one)
  KEYS[6] dlq              stream  dead letters
  KEYS[7] errors           hash    message id -> last handler error, while delayed

  ARGV[1] epoch          the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] group
  ARGV[3] promoteLimit   most delayed messages promoted per call
  ARGV[4] gatePrefix     '' without per-key limits; else (includes/key-gate.lua) a due keyed message
                         enters its key's gate (a retry keeps its slot) and keysWaiting is counted
  ARGV[5..]              ids of the live workers (consumers not among them, with nothing pending, are removed)

  Returns: {promoted, trimmed, consumersRemoved, length, pending, undelivered, delayed, deadLetters, nowMs,
            oldestPendingMs, keysWaiting, heldByConcurrency, heldByRate}
  Errors:  {-1} when the epoch is stale.
]]
--- @include now
--- @include token-bucket
--- @include key-gate
--- @include key-gate-hold
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local group = ARGV[2]
local now = nowMs()
local promoted = 0
local gate = ARGV[4] ~= '' and ARGV[4] or nil
local gateCfg = gate and gateConfig(gate)
local held = {concurrency = 0, rate = 0}
local due = rcall('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  local payload = rcall('HGET', KEYS[4], id)
  if payload then
    local earlier = rcall('HGET', KEYS[5], id)
    -- "<attempts>|<limit>" when the message carries its own attempt limit.
    local bar = earlier and string.find(earlier, '|', 1, true)
    local gated = gate and gatePromote(gate, gateCfg, KEYS[2], id, payload,
      bar and string.sub(earlier, 1, bar - 1) or earlier, bar and string.sub(earlier, bar + 1) or nil, now)
    if gated then
      if gated ~= 'appended' then held[gated] = held[gated] + 1 end
    elseif bar then
      rcall('XADD', KEYS[2], '*', 'i', id, 'p', payload, 'n', string.sub(earlier, 1, bar - 1),
        'm', string.sub(earlier, bar + 1))
    elseif earlier then
      rcall('XADD', KEYS[2], '*', 'i', id, 'p', payload, 'n', earlier)
    else
      rcall('XADD', KEYS[2], '*', 'i', id, 'p', payload)
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
local lastDelivered, undelivered = '0-0', -1
for _, info in ipairs(rcall('XINFO', 'GROUPS', KEYS[2])) do
  local fields = {}
  for f = 1, #info, 2 do fields[info[f]] = info[f + 1] end
  if fields['name'] == group then
    lastDelivered = fields['last-delivered-id']
    if type(fields['lag']) == 'number' then undelivered = fields['lag'] end
  end
end

-- Trim: everything older than the oldest pending entry is acknowledged; with nothing pending,
-- everything up to the last delivered entry is. Entries not yet delivered are never touched.
local summary = rcall('XPENDING', KEYS[2], group)
local pendingCount = tonumber(summary[1])
local minId
local oldestPendingMs = -1
if pendingCount > 0 then
  minId = summary[2]
  oldestPendingMs = tonumber(string.match(summary[2], '^(%d+)'))
else
  local ms, seq = string.match(lastDelivered, '^(%d+)-(%d+)$')
  minId = ms .. '-' .. (tonumber(seq) + 1)
end
local trimmed = rcall('XTRIM', KEYS[2], 'MINID', minId)

local live = {}
for i = 5, #ARGV do live[ARGV[i]] = true end
local removed = 0
for _, info in ipairs(rcall('XINFO', 'CONSUMERS', KEYS[2], group)) do
  local fields = {}
  for f = 1, #info, 2 do fields[info[f]] = info[f + 1] end
  if tonumber(fields['pending']) == 0 and not live[fields['name']] then
    rcall('XGROUP', 'DELCONSUMER', KEYS[2], group, fields['name'])
    removed = removed + 1
  end
end
return {promoted, trimmed, removed, rcall('XLEN', KEYS[2]), pendingCount, undelivered,
  rcall('ZCARD', KEYS[3]), rcall('XLEN', KEYS[6]), now, oldestPendingMs,
  gate and rcall('SCARD', gate .. 'w') or 0, held.concurrency, held.rate}
