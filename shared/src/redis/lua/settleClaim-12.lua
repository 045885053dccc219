--[[
  A worker's hot loop in ONE call: settle what finished since the last call (acks, and nacks into
  the delayed set or the DLQ), then claim up to `count` more. Halves the round trips of separate
  settle and claim calls; see settle-9.lua and claim-8.lua for each half's rules.

  KEYS[1]  queue     list  this worker's queue
  KEYS[2]  inflight  zset  claimed id -> ack deadline (server ms)
  KEYS[3]  owner     hash  claimed id -> worker id
  KEYS[4]  held      set   ids this worker holds
  KEYS[5]  attempts  hash  id -> deliveries so far
  KEYS[6]  body      hash  id -> payload
  KEYS[7]  workers   zset  worker id -> last heartbeat
  KEYS[8]  backlog   list  accepted ids no queue had room for
  KEYS[9]  errors    hash  id -> last error
  KEYS[10] delayed   zset  id -> due time (retry backoff)
  KEYS[11] dlq       zset  dead-lettered id -> time
  KEYS[12] totals    hash  cluster-wide counters

  ARGV[1] workerId
  ARGV[2] count         most messages to claim (0 = settle only)
  ARGV[3] ackTimeoutMs
  ARGV[4] rotated       id a BLMOVE wake-up rotated ('' = none)
  ARGV[5] maxAttempts
  ARGV[6] ackCount
  ARGV[7] nackCount
  ARGV[8..] ackCount ids, then nackCount x (id, delayMs, error) (delayMs < 0: dead-letter now), then
            optionally the results section (includes/write-results.lua), then optionally the reply
            section: outboundMax, tag, (id, route, tail)... (see includes/write-replies.lua)

  Returns: {acked, retried, deadLettered, stale, registered (1|0), replied, repliesDeadLettered,
            (id, attempt, payload)...}
           registered = 0 means the worker was declared dead: nothing was claimed, it must re-register.
]]
--- @include now
--- @include push-chunked
--- @include message-options
--- @include attempt-link
--- @include priority-insert
--- @include token-bucket
--- @include list-key-gate
--- @include settle-messages
--- @include write-replies
--- @include write-results
--- @include claim-messages
local now = nowMs()
local settleKeys = { inflight = KEYS[2], owner = KEYS[3], held = KEYS[4], attempts = KEYS[5], body = KEYS[6],
  errors = KEYS[9], delayed = KEYS[10], dlq = KEYS[11], totals = KEYS[12] }
local acked, retried, deadLettered, stale, ackedIds, replyBase = settleMessages(settleKeys, ARGV[1],
  tonumber(ARGV[5]), ARGV, 8, tonumber(ARGV[6]), tonumber(ARGV[7]), now)
local _, resultsEnd = writeResults(ARGV, replyBase, ackedIds)
local replied, repliesDead = writeReplies(ARGV, resultsEnd, ackedIds, now)
local claimKeys = { queue = KEYS[1], inflight = KEYS[2], owner = KEYS[3], held = KEYS[4], attempts = KEYS[5],
  body = KEYS[6], workers = KEYS[7], backlog = KEYS[8] }
local claimed = claimMessages(claimKeys, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], now)
local out = {acked, retried, deadLettered, stale, claimed and 1 or 0, replied, repliesDead}
if claimed then
  for i = 1, #claimed do out[#out + 1] = claimed[i] end
end
return out
