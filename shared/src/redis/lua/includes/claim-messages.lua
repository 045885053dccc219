-- A worker takes up to `want` messages from its own queue (then from the backlog when its queue ran
-- dry) and claims each: ack deadline, owner, held set, one more attempt — atomically, so no message is
-- ever outside the queue / in-flight sets between taking and claiming. A handful of variadic commands
-- per batch, not per message. Needs the push-chunked, message-options and list-key-gate includes.
-- k: {queue, inflight, owner, held, attempts, body, workers, backlog}
-- rotated: id a BLMOVE wake-up moved from the tail to the head ('' = none); put back at the tail.
-- Returns a flat list of (id, attempt, payload), or nil when the worker is not registered; attempt is
-- "<n>x<hex>" when a traced nack left the previous attempt's span context (message-options).
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
  if #ids == 0 then
    return out
  end
  local payloads = hmgetChunked(k.body, ids)
  local previous = hmgetChunked(k.attempts, ids)
  local deadline = now + ackTimeoutMs
  local claimed, scored, owners, attempts = {}, {}, {}, {}
  for i, id in ipairs(ids) do
    -- A message purged from the DLQ or acked by a previous owner may leave a stale id behind.
    if payloads[i] then
      local attempt = deliveriesOf(previous[i]) + 1
      local options = optionsOf(previous[i])
      claimed[#claimed + 1] = id
      scored[#scored + 1] = deadline
      scored[#scored + 1] = id
      owners[#owners + 1] = id
      -- A message gated by its key: the settle scripts see it in the owner they read anyway.
      owners[#owners + 1] = isKeyGated(previous[i]) and worker .. KEY_GATED_OWNER or worker
      attempts[#attempts + 1] = id
      attempts[#attempts + 1] = attempt .. options
      out[#out + 1] = id
      out[#out + 1] = attemptWithLink(attempt, options)
      out[#out + 1] = payloads[i]
    end
  end
  if #claimed > 0 then
    pushChunked('ZADD', k.inflight, scored)
    pushChunked('HSET', k.owner, owners)
    pushChunked('SADD', k.held, claimed)
    pushChunked('HSET', k.attempts, attempts)
  end
  return out
end
