--[[
  Lists mode, rate limit: the leader releases as many held ids as the token bucket allows into the
  backlog (where workers and the next batch write take them), fenced. While a rate limit is set the
  leader's scripts use the held list as their backlog, so nothing reaches a worker but through here.

  KEYS[1] epoch    string  fencing epoch
  KEYS[2] flow     hash    the bucket: tokens, tokensAt (server ms)
  KEYS[3] held     list    ids waiting for tokens
  KEYS[4] backlog  list    ids waiting for routing

  ARGV[1] epoch  the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] rate   tokens per second
  ARGV[3] burst  bucket size
  ARGV[4] limit  most ids released per call

  Returns: {released, held ids left, ms until the next token (0 = now)}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include token-bucket
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local now = nowMs()
local rate, burst, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = refillBucket(KEYS[2], rate, burst, now)
local n = math.min(math.floor(tokens), limit, rcall('LLEN', KEYS[3]))
if n > 0 then
  local ids = rcall('LRANGE', KEYS[3], 0, n - 1)
  rcall('RPUSH', KEYS[4], unpack(ids))
  rcall('LTRIM', KEYS[3], n, -1)
  tokens = tokens - n
end
local wait = storeBucket(KEYS[2], tokens, rate, now)
return {n, rcall('LLEN', KEYS[3]), wait}
