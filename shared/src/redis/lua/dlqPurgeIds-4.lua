--[[
  Deletes the given dead letters and their bodies; ids no longer dead-lettered (replayed or purged
  meanwhile) are skipped, so a live message's body is never deleted.

  KEYS[1] dlq       zset  dead-lettered id -> time
  KEYS[2] body      hash  id -> payload
  KEYS[3] attempts  hash  id -> deliveries so far
  KEYS[4] errors    hash  id -> last error (and "stack:<id>" -> the dead letter's stack)
  (and the tag:key-of hash of includes/list-key-gate.lua, the tag taken from KEYS[1]: a gated dead letter's key)
  ARGV[1..]         ids to delete

  Returns: the number purged.
]]
local rcall = redis.call
-- Per-key limits were used here: a gated dead letter's key goes with it (one EXISTS per call otherwise).
local keyOf = string.sub(KEYS[1], 1, #KEYS[1] - #':dlq') .. ':key-of'
local gated = rcall('EXISTS', keyOf) == 1
local purged = 0
for _, id in ipairs(ARGV) do
  if rcall('ZREM', KEYS[1], id) == 1 then
    rcall('HDEL', KEYS[2], id)
    rcall('HDEL', KEYS[3], id)
    rcall('HDEL', KEYS[4], id, 'stack:' .. id)
    if gated then rcall('HDEL', keyOf, id) end
    purged = purged + 1
  end
end
return purged
