--[[
  Run by every live relay on its heartbeat: a relay silent longer than the retention period is gone
  for good. Its replies (queued and in progress) are dead-lettered with reason 'relay_gone', the HTTP
  replies it had taken go back to the shared HTTP queue for another deliverer, and it is deregistered
  (from then on a worker dead-letters replies to it at once, reason 'unknown_relay'). Idempotent, so
  peers sweeping at the same time are harmless.

  KEYS[1] relays  zset  relay id -> last heartbeat (server ms)
  KEYS[2] dead    list  outbound dead letters
  ARGV[1] retentionMs
  ARGV[2] tag     the hash tag, e.g. "{rd}"; per-relay keys are built as in shared/src/redis/keys.ts:
                  tag:out:relay:<id>, tag:outp:relay:<id>, tag:outp:http:<id>, tag:relay-sessions:<id>
  ARGV[3] limit   most relays swept per call

  Returns: {relaysSwept, deadLettered, returnedToHttp}
]]
--- @include now
local rcall = redis.call
local now = nowMs()
local tag = ARGV[2]
local reason = 'relay_gone'
local swept, dead, returned = 0, 0, 0
local gone = rcall('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])), 'LIMIT', 0, tonumber(ARGV[3]))
for _, relay in ipairs(gone) do
  -- Oldest first: the processing list holds what was taken earliest, the queue's tail the next oldest.
  for _, key in ipairs({ tag .. ':outp:relay:' .. relay, tag .. ':out:relay:' .. relay }) do
    local entries = rcall('LRANGE', key, 0, -1)
    for i = #entries, 1, -1 do
      rcall('LPUSH', KEYS[2], now .. ':' .. #reason .. ':' .. reason .. entries[i])
      dead = dead + 1
    end
    rcall('DEL', key)
  end
  while rcall('LMOVE', tag .. ':outp:http:' .. relay, tag .. ':out:http', 'LEFT', 'RIGHT') do
    returned = returned + 1
  end
  rcall('DEL', tag .. ':relay-sessions:' .. relay)
  rcall('ZREM', KEYS[1], relay)
  swept = swept + 1
end
return {swept, dead, returned}
