--[[
  The leader applies the requested flow state, fenced: on takeover (before its first write) and on
  every upkeep tick (REDISPATCH_REAP_INTERVAL_MS). What it
  returns is what the leader's routing obeys until the next apply. Lists mode: while paused the
  leader's scripts use the held list as their backlog (workers never take from it); once running,
  this moves the held ids back to the head of the backlog, oldest first, `limit` per call.

  KEYS[1] epoch    string  fencing epoch
  KEYS[2] flow     hash    requested, requestSeq (flowRequest-1.lua); state, appliedSeq, appliedEpoch
  KEYS[3] held     list    lists mode: ids accepted while paused (empty in streams mode)
  KEYS[4] backlog  list    lists mode: ids waiting for routing

  ARGV[1] epoch  the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] limit  most held ids moved per call (0 = none: a rate limit releases them instead)

  Returns: {paused (1 | 0), appliedSeq, held ids still to move}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local requested = rcall('HGET', KEYS[2], 'requested') or 'running'
local seq = rcall('HGET', KEYS[2], 'requestSeq') or '0'
if seq ~= '0' and (rcall('HGET', KEYS[2], 'appliedSeq') ~= seq or rcall('HGET', KEYS[2], 'state') ~= requested) then
  rcall('HSET', KEYS[2], 'state', requested, 'appliedSeq', seq, 'appliedEpoch', ARGV[1])
end
if requested == 'paused' then
  return {1, tonumber(seq), rcall('LLEN', KEYS[3])}
end
-- Running: the tail chunk of the held list goes to the head of the backlog, so over several calls
-- the held ids keep their order ahead of anything newer.
local limit = tonumber(ARGV[2])
if limit <= 0 then
  -- A rate limit is set: the held list is released by flowRelease-4.lua at the limit, not here.
  return {0, tonumber(seq), rcall('LLEN', KEYS[3])}
end
local chunk = rcall('LRANGE', KEYS[3], -limit, -1)
if #chunk > 0 then
  for i = #chunk, 1, -1 do rcall('LPUSH', KEYS[4], chunk[i]) end
  rcall('LTRIM', KEYS[3], 0, -(#chunk + 1))
end
return {0, tonumber(seq), rcall('LLEN', KEYS[3])}
