--[[
  msg.extend for lists mode: moves claims' ack deadlines to now + ms on the Redis clock, each only
  while this worker still owns that attempt. A stale worker (its claim expired and the message was
  redelivered, to another worker or back to this one as a later attempt) changes nothing.

  KEYS[1] inflight  zset  claimed id -> ack deadline (server ms)
  KEYS[2] owner     hash  claimed id -> worker id
  KEYS[3] attempts  hash  id -> deliveries so far (the attempt that holds the claim)

  ARGV[1] workerId
  ARGV[2..] (id, attempt, ms) triples: the attempt the caller holds and the new deadline's distance

  Returns: one 1 (extended) or 0 (not this worker's attempt any more) per triple, in order.
]]
--- @include now
--- @include message-options
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
local rcall = redis.call
local worker = ARGV[1]
local now = nowMs()
local out = {}
for i = 2, #ARGV - 2, 3 do
  local id, attempt, ms = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  -- Still in flight (not acked, not reaped), held by this worker, as the attempt the caller runs.
  -- (A gated message's owner carries a suffix; a value with per-message options one after a bar.)
  local owned = rcall('ZSCORE', KEYS[1], id) and ownerWorker(rcall('HGET', KEYS[2], id)) == worker
    and deliveriesOf(rcall('HGET', KEYS[3], id)) == tonumber(attempt)
  if owned then
    rcall('ZADD', KEYS[1], 'XX', now + ms, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
