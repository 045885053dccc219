--[[
  Deletes up to ARGV[1] of the oldest dead letters and their bodies.

  KEYS[1] dlq       zset  dead-lettered id -> time
  KEYS[2] body      hash  id -> payload
  KEYS[3] attempts  hash  id -> deliveries so far
  KEYS[4] errors    hash  id -> last error (and "stack:<id>" -> the dead letter's stack)
  ARGV[1] limit

  Returns: the number purged (call again while it equals the limit).
]]
local rcall = redis.call
local ids = rcall('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  rcall('ZREM', KEYS[1], id)
  rcall('HDEL', KEYS[2], id)
  rcall('HDEL', KEYS[3], id)
  rcall('HDEL', KEYS[4], id, 'stack:' .. id)
end
return #ids
