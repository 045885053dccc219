--[[
  Streams mode, rate limit: the leader takes up to `want` tokens from the cluster-wide bucket, fenced,
  after returning the ones its last take did not use (fewer entries were due than granted). It then
  promotes that many parked entries (streamMaintain-8.lua's promoteLimit).

  KEYS[1] epoch  string  fencing epoch
  KEYS[2] flow   hash    the bucket: tokens, tokensAt (server ms)

  ARGV[1] epoch   the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] rate    tokens per second
  ARGV[3] burst   bucket size
  ARGV[4] want    most tokens to take
  ARGV[5] refund  unused tokens of the last take

  Returns: {granted, ms until the next token (0 = now)}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include token-bucket
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local now = nowMs()
local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = refillBucket(KEYS[2], rate, burst, now) + tonumber(ARGV[5])
if tokens > burst then tokens = burst end
local granted = math.min(math.floor(tokens), tonumber(ARGV[4]))
if granted < 0 then granted = 0 end
tokens = tokens - granted
return {granted, storeBucket(KEYS[2], tokens, rate, now)}
