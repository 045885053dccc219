--[[
  A worker takes up to `count` messages from its own queue and claims them: each gets an ack
  deadline, an owner and one more attempt, atomically, so no message is ever outside the
  queue / in-flight sets between taking and claiming.

  KEYS[1] queue     list  this worker's queue
  KEYS[2] inflight  zset  claimed id -> ack deadline (server ms)
  KEYS[3] owner     hash  claimed id -> worker id
  KEYS[4] held      set   ids this worker holds (so a dead worker's claims are found at once)
  KEYS[5] attempts  hash  id -> deliveries so far
  KEYS[6] body      hash  id -> payload
  KEYS[7] workers   zset  worker id -> last heartbeat
  KEYS[8] backlog   list  accepted ids no queue had room for; a worker whose own queue ran dry takes
                          from it directly, so overflow drains at the workers' pace, not the reaper's

  ARGV[1] workerId
  ARGV[2] count         most messages to claim
  ARGV[3] ackTimeoutMs  visibility timeout
  ARGV[4] rotated       id a BLMOVE wake-up rotated from the tail to the head ('' = none); it is put
                        back at the tail so the queue stays FIFO

  Returns: flat list of (id, attempt, payload) triples.
  Errors:  {-2} when the worker is not registered (it was declared dead and must re-register).
]]
--- @include now
local rcall = redis.call
if ARGV[4] ~= '' and rcall('LINDEX', KEYS[1], 0) == ARGV[4] then
  rcall('LPOP', KEYS[1])
  rcall('RPUSH', KEYS[1], ARGV[4])
end
if not rcall('ZSCORE', KEYS[7], ARGV[1]) then
  return {-2}
end
local want = tonumber(ARGV[2])
local ids = rcall('LPOP', KEYS[1], want) or {}
if #ids < want then
  local extra = rcall('LPOP', KEYS[8], want - #ids)
  if extra then
    for i = 1, #extra do ids[#ids + 1] = extra[i] end
  end
end
if #ids == 0 then
  return {}
end
local deadline = nowMs() + tonumber(ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local payload = rcall('HGET', KEYS[6], id)
  -- A message purged from the DLQ or acked by a previous owner may leave a stale id behind.
  if payload then
    rcall('ZADD', KEYS[2], deadline, id)
    rcall('HSET', KEYS[3], id, ARGV[1])
    rcall('SADD', KEYS[4], id)
    out[#out + 1] = id
    out[#out + 1] = rcall('HINCRBY', KEYS[5], id, 1)
    out[#out + 1] = payload
  end
end
return out
