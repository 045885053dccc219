--[[
  Registers a worker or refreshes its heartbeat with the server's clock; with ARGV[2] = 'leave'
  it marks the worker dead now so the leader reassigns its queue on the next reap.

  KEYS[1] workers  zset  worker id -> last heartbeat (server ms)
  ARGV[1] workerId
  ARGV[2] 'beat' | 'leave'

  Returns: 1 when the worker was already registered, 0 when it (re)joined.
]]
--- @include now
local rcall = redis.call
local known = rcall('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
if ARGV[2] == 'leave' then
  if known == 1 then rcall('ZADD', KEYS[1], 0, ARGV[1]) end
  return known
end
rcall('ZADD', KEYS[1], nowMs(), ARGV[1])
return known
