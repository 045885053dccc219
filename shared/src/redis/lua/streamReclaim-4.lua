--[[
  Streams mode: a live worker takes over entries of ONE partition that sat unacknowledged longer
  than the ack timeout (their consumer died, froze or gave up): XPENDING IDLE finds them, XCLAIM
  takes them. An entry this worker itself gave up on is left to the others for one more ack timeout
  (as lists mode redelivers to another worker where one exists), then taken back. The delivery count
  from the PEL, plus attempts made before a retry re-added the message, is the attempt number; past
  the maximum the entry is dead-lettered (acked here, so it leaves the PEL in the same call).

  KEYS[1] stream   stream  the partition, or its priority stream
  KEYS[2] dlq      stream  dead letters {i, p, r, a[, q]} (q: the priority level of a priority-stream entry)
  KEYS[3] totals   hash    this partition's counters
  KEYS[4] priorityStream  stream  only checked for existence: how a worker learns that it must read it

  ARGV[1] group
  ARGV[2] consumer     this worker's id
  ARGV[3] minIdleMs    the ack timeout
  ARGV[4] cursor       unused (kept for the call shape; every pass scans from the oldest pending)
  ARGV[5] count        most entries to claim
  ARGV[6] maxAttempts  (an entry's 'm' field, the publisher's own limit, wins)

  Returns: {prioritized, deadLettered, deletedWhilePending, then (entryId, messageId, attempt, payload) x n};
           prioritized is 1 when KEYS[4] exists (the partition has had a message with a priority), else 0
]]
local rcall = redis.call
local group, consumer, maxAttempts = ARGV[1], ARGV[2], tonumber(ARGV[6])
local minIdle, want = tonumber(ARGV[3]), tonumber(ARGV[5])
local prioritized = rcall('EXISTS', KEYS[4])
if rcall('EXISTS', KEYS[1]) == 0 then
  return {prioritized, 0, 0}
end
local ok, candidates = pcall(rcall, 'XPENDING', KEYS[1], group, 'IDLE', minIdle, '-', '+', want * 4)
if not ok then
  -- NOGROUP: nothing was ever delivered from this partition.
  return {prioritized, 0, 0}
end
local out = {prioritized, 0, 0}
local reclaimed, deadLettered, deleted = 0, 0, 0
for _, row in ipairs(candidates) do
  if reclaimed + deadLettered >= want then break end
  local entryId, owner, idle, deliveries = row[1], row[2], tonumber(row[3]), tonumber(row[4])
  if owner ~= consumer or idle >= 2 * minIdle then
    local claimed = rcall('XCLAIM', KEYS[1], group, consumer, minIdle, entryId)
    local entry = claimed[1]
    if not entry or not entry[2] then
      -- Deleted while pending (never by our trimming): drop it from the PEL and count it.
      rcall('XACK', KEYS[1], group, entryId)
      deleted = deleted + 1
    else
      local fields = entry[2]
      local messageId, payload, earlier, limit, level = '', '', 0, maxAttempts, nil
      for f = 1, #fields, 2 do
        local name = fields[f]
        if name == 'i' then messageId = fields[f + 1]
        elseif name == 'p' then payload = fields[f + 1]
        elseif name == 'n' then earlier = tonumber(fields[f + 1])
        elseif name == 'm' then limit = tonumber(fields[f + 1])
        elseif name == 'q' then level = fields[f + 1] end
      end
      local attempt = earlier + deliveries + 1
      if attempt > limit then
        local dead = {'i', messageId, 'p', payload,
          'r', 'ack timeout: not acknowledged after ' .. (attempt - 1) .. ' deliveries (max ' .. limit .. ')',
          'a', attempt - 1}
        if level then dead[#dead + 1], dead[#dead + 2] = 'q', level end
        rcall('XADD', KEYS[2], '*', unpack(dead))
        rcall('XACK', KEYS[1], group, entryId)
        deadLettered = deadLettered + 1
      else
        out[#out + 1] = entryId
        out[#out + 1] = messageId
        out[#out + 1] = attempt
        out[#out + 1] = payload
        reclaimed = reclaimed + 1
      end
    end
  end
end
out[2] = deadLettered
out[3] = deleted
if reclaimed > 0 then rcall('HINCRBY', KEYS[3], 'redelivered', reclaimed) end
if deadLettered > 0 then
  rcall('HINCRBY', KEYS[3], 'deadLettered', deadLettered)
  rcall('HINCRBY', KEYS[3], 'redelivered', deadLettered)
end
if deleted > 0 then rcall('HINCRBY', KEYS[3], 'lostTrimmed', deleted) end
return out
