--[[
  Deletes up to ARGV[1] of the oldest dead letters and their bodies.

  KEYS[1] dlq       zset  dead-lettered id -> time
  KEYS[2] body      hash  id -> payload
  KEYS[3] attempts  hash  id -> deliveries so far
  KEYS[4] errors    hash  id -> last error (and "stack:<id>" -> the dead letter's stack)
  (and the tag:key-of hash of includes/list-key-gate.lua, the tag taken from KEYS[1]: a gated dead letter's key)
  ARGV[1] limit

  Returns: the number purged (call again while it equals the limit).
]]
local rcall = redis.call
-- Per-key limits were used here: a gated dead letter's key goes with it (one EXISTS per call otherwise).
local keyOf = string.sub(KEYS[1], 1, #KEYS[1] - #':dlq') .. ':key-of'
local gated = rcall('EXISTS', keyOf) == 1
local ids = rcall('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  rcall('ZREM', KEYS[1], id)
  rcall('HDEL', KEYS[2], id)
  rcall('HDEL', KEYS[3], id)
  rcall('HDEL', KEYS[4], id, 'stack:' .. id)
  if gated then rcall('HDEL', keyOf, id) end
end
return #ids
