--[[
  Moves dead letters back into routing with a fresh attempt count. A message gated by its key
  (includes/list-key-gate.lua; tag:key-* keys, the tag taken from KEYS[1]) goes through its key's limits
  again: admitted into the backlog, or held in its key's list (a rate-limited key's for the leader).

  KEYS[1] dlq       zset  dead-lettered id -> time
  KEYS[2] attempts  hash  id -> deliveries so far
  KEYS[3] errors    hash  id -> last error (and "stack:<id>" -> the dead letter's stack)
  KEYS[4] backlog   list  ids waiting for routing
  KEYS[5] totals    hash  counters

  ARGV[1] '*' to replay up to ARGV[2] of the oldest, or '' to replay the ids in ARGV[3..]
  ARGV[2] limit for '*'

  Returns: the number of messages replayed (ids not in the DLQ are skipped).
]]
--- @include now
--- @include message-options
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
local rcall = redis.call
local gate = nil
local ids = {}
if ARGV[1] == '*' then
  ids = rcall('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local replayed = 0
for _, id in ipairs(ids) do
  if rcall('ZREM', KEYS[1], id) == 1 then
    -- A fresh count; the publisher's options (own attempt limit, priority) stay with the message.
    local value = rcall('HGET', KEYS[2], id)
    local bar = value and string.find(value, '|', 1, true)
    if bar then rcall('HSET', KEYS[2], id, '0' .. string.sub(value, bar)) else rcall('HDEL', KEYS[2], id) end
    rcall('HDEL', KEYS[3], id, 'stack:' .. id)
    local of = isKeyGated(value) and rcall('HGET', tagOfKey(KEYS[1], ':dlq') .. ':key-of', id)
    if of then
      gate = gate or keyGate(tagOfKey(KEYS[1], ':dlq'), nowMs())
      if keyAdmitOrHold(gate, string.sub(of, 2), id, priorityOf(value), KEYS[2], false) == 'ok' then
        rcall('RPUSH', KEYS[4], id)
      end
    else
      rcall('RPUSH', KEYS[4], id)
    end
    replayed = replayed + 1
  end
end
if replayed > 0 then rcall('HINCRBY', KEYS[5], 'replayed', replayed) end
return replayed
