--[[
  A worker's acks and nacks for one event-loop turn, in one call. Only the current owner may
  settle a message: a late ack or nack from a worker whose claim expired (it was frozen, or
  declared dead) is counted as stale and changes nothing.

  KEYS[1] inflight  zset  claimed id -> deadline
  KEYS[2] owner     hash  claimed id -> worker id
  KEYS[3] held      set   ids this worker holds
  KEYS[4] attempts  hash  id -> deliveries so far
  KEYS[5] body      hash  id -> payload
  KEYS[6] errors    hash  id -> last error
  KEYS[7] delayed   zset  id -> due time (retry backoff)
  KEYS[8] dlq       zset  dead-lettered id -> time
  KEYS[9] totals    hash  cluster-wide counters

  ARGV[1] workerId
  ARGV[2] maxAttempts
  ARGV[3] ackCount    number of ids to ack that follow
  ARGV[4] nackCount   number of (id, delayMs, error) triples after them
  ARGV[5..]           ackCount ids, then nackCount x (id, delayMs, error) (delayMs < 0: dead-letter
                      now), then optionally the results section (includes/write-results.lua), then
                      optionally the reply section: outboundMax, tag, (id, route, tail)...
                      (see includes/write-replies.lua)

  Returns: {acked, retried, deadLettered, stale, replied, repliesDeadLettered}
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
local k = { inflight = KEYS[1], owner = KEYS[2], held = KEYS[3], attempts = KEYS[4], body = KEYS[5],
  errors = KEYS[6], delayed = KEYS[7], dlq = KEYS[8], totals = KEYS[9] }
local now = nowMs()
local acked, retried, deadLettered, stale, ackedIds, replyBase = settleMessages(k, ARGV[1], tonumber(ARGV[2]),
  ARGV, 5, tonumber(ARGV[3]), tonumber(ARGV[4]), now)
local _, resultsEnd = writeResults(ARGV, replyBase, ackedIds)
local replied, repliesDead = writeReplies(ARGV, resultsEnd, ackedIds, now)
return {acked, retried, deadLettered, stale, replied, repliesDead}
