-- The cluster-wide rate limit's token bucket, kept in the flow hash (fields tokens, tokensAt) and
-- refilled on the Redis clock, so a new leader continues the same bucket. Returns the tokens now.
local function refillBucket(flowKey, rate, burst, now)
  local tokens = tonumber(redis.call('HGET', flowKey, 'tokens') or '')
  local at = tonumber(redis.call('HGET', flowKey, 'tokensAt') or '')
  if not tokens or not at then
    tokens, at = burst, now
  end
  if now > at then tokens = tokens + (now - at) * rate / 1000 end
  if tokens > burst then tokens = burst end
  return tokens
end

-- Stores what is left; returns ms until the next whole token (0 when one is there already).
local function storeBucket(flowKey, tokens, rate, now)
  redis.call('HSET', flowKey, 'tokens', tostring(tokens), 'tokensAt', now)
  if tokens >= 1 then return 0 end
  return math.ceil((1 - tokens) * 1000 / rate)
end
