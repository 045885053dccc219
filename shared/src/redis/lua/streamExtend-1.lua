--[[
  msg.extend for streams mode, on ONE partition: resets the idle time of entries this consumer still
  owns, as the same delivery (XCLAIM to itself with IDLE and JUSTID, which leaves the delivery count
  as it is). Reclaim takes an entry once it has been idle for the ack timeout, so an idle time of
  ackTimeout - ms puts its deadline ms from now on the Redis clock. Redis cannot set an idle time
  below zero, so one extension reaches at most one ack timeout ahead.
  A stale worker (the entry was reclaimed by another consumer, or by this one as a later delivery,
  or acked) changes nothing.

  KEYS[1] stream  stream  the partition

  ARGV[1] group
  ARGV[2] consumer      this worker's id
  ARGV[3] ackTimeoutMs  the reclaim threshold
  ARGV[4..] (entryId, attempt, ms) triples: the attempt the caller holds and the deadline's distance

  Returns: one 1 (extended) or 0 (not this consumer's delivery any more) per triple, in order.
]]
local rcall = redis.call
local group, consumer, ackTimeout = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV - 2, 3 do
  local entryId, attempt, ms = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local extended = 0
  local ok, pending = pcall(rcall, 'XPENDING', KEYS[1], group, entryId, entryId, 1)
  local row = ok and pending[1]
  if row and row[2] == consumer then
    -- The attempt is the deliveries of this entry plus those made before a retry re-added it ('n').
    local entry = rcall('XRANGE', KEYS[1], entryId, entryId)
    local earlier = 0
    local fields = entry[1] and entry[1][2] or {}
    for f = 1, #fields, 2 do
      if fields[f] == 'n' then earlier = tonumber(fields[f + 1]) end
    end
    if entry[1] and earlier + tonumber(row[4]) == attempt then
      rcall('XCLAIM', KEYS[1], group, consumer, 0, entryId, 'IDLE', math.max(0, ackTimeout - ms), 'JUSTID')
      extended = 1
    end
  end
  out[#out + 1] = extended
end
return out
