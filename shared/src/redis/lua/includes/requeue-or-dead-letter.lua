-- Puts a message that left a worker without an ack back in routing (front of the backlog), or
-- dead-letters it when it has used all its attempts. Returns 1 when dead-lettered, 0 when requeued,
-- -1 when the message no longer exists (acked or purged meanwhile).
local function requeueOrDeadLetter(keys, id, maxAttempts, reason, now)
  if redis.call('HEXISTS', keys.body, id) == 0 then
    return -1
  end
  local attempts = tonumber(redis.call('HGET', keys.attempts, id) or '0')
  if attempts >= maxAttempts then
    redis.call('HSET', keys.errors, id, reason .. ' (attempt ' .. attempts .. ' of ' .. maxAttempts .. ')')
    redis.call('ZADD', keys.dlq, now, id)
    redis.call('HINCRBY', keys.totals, 'deadLettered', 1)
    return 1
  end
  redis.call('HSET', keys.errors, id, reason)
  redis.call('LPUSH', keys.backlog, id)
  redis.call('HINCRBY', keys.totals, 'redelivered', 1)
  return 0
end
