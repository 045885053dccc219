--[[
  Read-only: how long until the earliest entry of a delayed set is due, on the server's clock (the
  set is the truth, so a new leader learns it from here, not from what it wrote). The leader arms a
  timer for that moment instead of waiting for its next reap tick.

  KEYS[1] delayed  zset  id -> due time (server ms)

  Returns: ms until the earliest entry is due (0 when already due), or -1 when the set is empty.
]]
--- @include now
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if head[2] == nil then
  return -1
end
local wait = tonumber(head[2]) - nowMs()
if wait < 0 then
  return 0
end
return wait
