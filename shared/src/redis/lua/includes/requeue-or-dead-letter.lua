-- Puts a message that left a worker without an ack back in routing (front of the backlog), or
-- dead-letters it when it has used all its attempts. Returns 1 when dead-lettered, 0 when requeued,
-- -1 when the message no longer exists (acked or purged meanwhile). Needs the message-options include:
-- a message's own attempt limit (stored beside it at dispatch) overrides maxAttempts, and a
-- prioritized message goes back ahead of lower priorities. Also returns the message's attempts-hash value
-- (a requeued message gated by its key keeps its slot; the caller frees it on a dead letter).
local function requeueOrDeadLetter(keys, id, maxAttempts, reason, now)
  if redis.call('HEXISTS', keys.body, id) == 0 then
    return -1, nil
  end
  local value = redis.call('HGET', keys.attempts, id)
  local attempts, limit = deliveriesOf(value), attemptLimitOf(value, maxAttempts)
  if attempts >= limit then
    redis.call('HSET', keys.errors, id, reason .. ' (attempt ' .. attempts .. ' of ' .. limit .. ')')
    redis.call('ZADD', keys.dlq, now, id)
    redis.call('HINCRBY', keys.totals, 'deadLettered', 1)
    return 1, value
  end
  redis.call('HSET', keys.errors, id, reason)
  local priority = priorityOf(value)
  if priority > 0 then
    insertByPriority(keys.backlog, keys.attempts, id, priority)
  else
    redis.call('LPUSH', keys.backlog, id)
  end
  redis.call('HINCRBY', keys.totals, 'redelivered', 1)
  return 0, value
end
