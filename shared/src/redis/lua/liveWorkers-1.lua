--[[
  Streams mode: the live workers (heartbeat within the TTL, server clock), dropping the registry
  entries of workers silent for longer; their unacknowledged entries are reclaimed by the live workers (XCLAIM).

  KEYS[1] workers  zset  worker id -> last heartbeat (server ms)
  ARGV[1] ttlMs

  Returns: {nowMs, removed, id1, beat1, id2, beat2, …} for the live workers.
]]
--- @include now
local rcall = redis.call
local now = nowMs()
local since = now - tonumber(ARGV[1])
local removed = rcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. since)
local out = {now, removed}
for _, value in ipairs(rcall('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')) do out[#out + 1] = value end
return out
