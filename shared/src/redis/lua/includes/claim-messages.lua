-- A worker takes up to `want` messages from its own queue (then from the backlog when its queue ran
-- dry) and claims each: ack deadline, owner, held set, one more attempt — atomically, so no message is
-- ever outside the queue / in-flight sets between taking and claiming.
-- k: {queue, inflight, owner, held, attempts, body, workers, backlog}
-- rotated: id a BLMOVE wake-up moved from the tail to the head ('' = none); put back at the tail.
-- Returns a flat list of (id, attempt, payload), or nil when the worker is not registered.
local function claimMessages(k, worker, want, ackTimeoutMs, rotated, now)
  if rotated ~= '' and redis.call('LINDEX', k.queue, 0) == rotated then
    redis.call('LPOP', k.queue)
    redis.call('RPUSH', k.queue, rotated)
  end
  if not redis.call('ZSCORE', k.workers, worker) then
    return nil
  end
  local out = {}
  if want <= 0 then
    return out
  end
  local ids = redis.call('LPOP', k.queue, want) or {}
  if #ids < want then
    local extra = redis.call('LPOP', k.backlog, want - #ids)
    if extra then
      for i = 1, #extra do ids[#ids + 1] = extra[i] end
    end
  end
  local deadline = now + ackTimeoutMs
  for _, id in ipairs(ids) do
    local payload = redis.call('HGET', k.body, id)
    -- A message purged from the DLQ or acked by a previous owner may leave a stale id behind.
    if payload then
      redis.call('ZADD', k.inflight, deadline, id)
      redis.call('HSET', k.owner, id, worker)
      redis.call('SADD', k.held, id)
      out[#out + 1] = id
      out[#out + 1] = redis.call('HINCRBY', k.attempts, id, 1)
      out[#out + 1] = payload
    end
  end
  return out
end
