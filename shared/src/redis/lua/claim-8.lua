--[[
  A worker takes up to `count` messages from its own queue and claims them: each gets an ack
  deadline, an owner and one more attempt, atomically, so no message is ever outside the
  queue / in-flight sets between taking and claiming.

  KEYS[1] queue     list  this worker's queue
  KEYS[2] inflight  zset  claimed id -> ack deadline (server ms)
  KEYS[3] owner     hash  claimed id -> worker id
  KEYS[4] held      set   ids this worker holds (so a dead worker's claims are found at once)
  KEYS[5] attempts  hash  id -> deliveries so far
  KEYS[6] body      hash  id -> payload
  KEYS[7] workers   zset  worker id -> last heartbeat
  KEYS[8] backlog   list  accepted ids no queue had room for; a worker whose own queue ran dry takes
                          from it directly, so overflow drains at the workers' pace, not the reaper's

  ARGV[1] workerId
  ARGV[2] count         most messages to claim
  ARGV[3] ackTimeoutMs  visibility timeout
  ARGV[4] rotated       id a BLMOVE wake-up rotated from the tail to the head ('' = none); it is put
                        back at the tail so the queue stays FIFO

  Returns: flat list of (id, attempt, payload) triples.
  Errors:  {-2} when the worker is not registered (it was declared dead and must re-register).
]]
--- @include now
--- @include push-chunked
--- @include message-options
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
--- @include claim-messages
local k = { queue = KEYS[1], inflight = KEYS[2], owner = KEYS[3], held = KEYS[4], attempts = KEYS[5],
  body = KEYS[6], workers = KEYS[7], backlog = KEYS[8] }
local out = claimMessages(k, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], nowMs())
if out == nil then
  return {-2}
end
return out
