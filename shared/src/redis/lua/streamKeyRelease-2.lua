--[[
  Streams mode, per-key limits, the leader's release of ONE partition's held messages (fenced;
  includes/key-gate.lua describes the keys). Three modes:
  'due'   per-key rate: appends the held messages of the keys whose next token is due, oldest first
          per key, as far as each key's tokens and slots allow; a key still short of a token is put
          back at its next token's time.
  'all'   takeover: stores the leader's limits and re-checks a page of the keys waiting (SSCAN from
          ARGV[8]), appending what their slots and tokens allow now (a raised limit, a lost due time).
  'drain' both limits are off: stores them as off (a settle then frees without holding) and appends a
          page of the held messages without a slot, so no accepted message waits for a limit that is gone.

  KEYS[1] fence   string  partition fencing epoch
  KEYS[2] stream  stream  the partition

  ARGV[1] epoch       the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] gatePrefix  the per-key limits' prefix (PartitionKeys.keyGate)
  ARGV[3] keyLimit    most keys per call (and, in 'drain', most messages)
  ARGV[4] mode        'due' (default), 'all' or 'drain'
  ARGV[5..7]          'all' / 'drain': concurrency, rate, burst (the leader's limits)
  ARGV[8] cursor      'all' / 'drain': the SSCAN cursor of the waiting keys ('0' to start)
  ARGV[9] paused      'all' / 'drain': '1' while `redispatch pause` holds routing: only stores the
                      limits (a settle then frees a slot without letting the key's next message out)

  Returns: {released, ms until the next key is due (-1 = none), keysWaiting, more (1 = call again now),
            next cursor ('0' = the page was the last)}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include now
--- @include token-bucket
--- @include key-gate
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local g, limit, mode = ARGV[2], tonumber(ARGV[3]), ARGV[4] or 'due'
local now = nowMs()
local released, more, cursor = 0, 0, '0'
if mode == 'due' then
  local cfg = gateConfig(g)
  local due = rcall('ZRANGEBYSCORE', g .. 'due', '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(due) do
    -- Out of the due set unless still short of a token (gatePump puts it back with its next time);
    -- one held back by its concurrency limit goes out when a slot frees (the settle appends it).
    rcall('ZREM', g .. 'due', key)
    released = released + gatePump(g, cfg, KEYS[2], key, now, 1000)
  end
  if #due >= limit then more = 1 end
else
  -- Draining a partition that never had limits writes nothing (nothing can be held there).
  if mode ~= 'drain' or rcall('EXISTS', g .. 'cfg') == 1 then
    rcall('HSET', g .. 'cfg', 'concurrency', ARGV[5], 'rate', ARGV[6], 'burst', ARGV[7], 'paused', ARGV[9] or '0')
  end
  local cfg = gateConfig(g)
  local page = ARGV[9] == '1' and {'0', {}} or rcall('SSCAN', g .. 'w', ARGV[8], 'COUNT', limit)
  cursor = page[1]
  -- 'drain' appends at most `limit` messages per call; what is left stays in the set for the next.
  local budget = mode == 'drain' and limit or 1000
  for _, key in ipairs(page[2]) do
    if mode == 'drain' and budget <= 0 then more = 1; break end
    local out = gatePump(g, cfg, KEYS[2], key, now, budget)
    released = released + out
    if mode == 'drain' then budget = budget - out end
  end
  if cursor ~= '0' then more = 1 end
end
local nextDue = rcall('ZRANGE', g .. 'due', 0, 0, 'WITHSCORES')
local waitMs = -1
if nextDue[2] then waitMs = math.max(0, tonumber(nextDue[2]) - now) end
return {released, waitMs, rcall('SCARD', g .. 'w'), more, cursor}
