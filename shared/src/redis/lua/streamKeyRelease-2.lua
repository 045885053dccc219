--[[
  Streams mode, per-key rate limit: the leader appends, fenced, the held messages of ONE partition's
  keys whose next token is due (includes/key-gate.lua), oldest first per key, as far as each key's
  tokens and slots allow; a key still short of a token is put back at its next token's time.

  KEYS[1] fence   string  partition fencing epoch
  KEYS[2] stream  stream  the partition

  ARGV[1] epoch       the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] gatePrefix  the per-key limits' prefix (PartitionKeys.keyGate)
  ARGV[3] keyLimit    most due keys per call

  Returns: {released, ms until the next key is due (-1 = none), keysWaiting, dueKeysLeft (1 = more are due now)}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include token-bucket
--- @include key-gate
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local g, limit = ARGV[2], tonumber(ARGV[3])
local now = nowMs()
local cfg = gateConfig(g)
local released = 0
local due = rcall('ZRANGEBYSCORE', g .. 'due', '-inf', now, 'LIMIT', 0, limit)
for _, key in ipairs(due) do
  -- Out of the due set unless still short of a token (gatePump puts it back with its next time);
  -- one held back by its concurrency limit goes out when a slot frees (the settle appends it).
  rcall('ZREM', g .. 'due', key)
  released = released + gatePump(g, cfg, KEYS[2], key, now, 1000)
end
local nextDue = rcall('ZRANGE', g .. 'due', 0, 0, 'WITHSCORES')
local waitMs = -1
if nextDue[2] then waitMs = math.max(0, tonumber(nextDue[2]) - now) end
return {released, waitMs, rcall('SCARD', g .. 'w'), #due >= limit and 1 or 0}
