--[[
  Streams mode: a live worker takes over entries of ONE partition that sat unacknowledged longer
  than the ack timeout (their consumer died, froze or gave up), with XAUTOCLAIM. The delivery count
  from the PEL, plus attempts made before a retry re-added the message, is the attempt number; past
  the maximum the entry is dead-lettered (acked here, so it leaves the PEL in the same call).

  KEYS[1] stream   stream  the partition
  KEYS[2] dlq      stream  dead letters {i, p, r, a}
  KEYS[3] totals   hash    this partition's counters

  ARGV[1] group
  ARGV[2] consumer     this worker's id
  ARGV[3] minIdleMs    the ack timeout
  ARGV[4] cursor       XAUTOCLAIM start id ('0-0' for a full pass)
  ARGV[5] count        most entries to claim
  ARGV[6] maxAttempts

  Returns: {nextCursor, deadLettered, deletedWhilePending, then (entryId, messageId, attempt, payload) x n}
]]
local rcall = redis.call
local group, consumer, maxAttempts = ARGV[1], ARGV[2], tonumber(ARGV[6])
if rcall('EXISTS', KEYS[1]) == 0 then
  return {'0-0', 0, 0}
end
local ok, reply = pcall(rcall, 'XAUTOCLAIM', KEYS[1], group, consumer, ARGV[3], ARGV[4], 'COUNT', ARGV[5])
if not ok then
  -- NOGROUP: nothing was ever delivered from this partition.
  return {'0-0', 0, 0}
end
local out = {reply[1], 0, #(reply[3] or {})}
local reclaimed, deadLettered = 0, 0
for _, entry in ipairs(reply[2]) do
  local entryId, fields = entry[1], entry[2]
  local messageId, payload, earlier = '', '', 0
  for f = 1, #fields, 2 do
    local name = fields[f]
    if name == 'i' then messageId = fields[f + 1]
    elseif name == 'p' then payload = fields[f + 1]
    elseif name == 'n' then earlier = tonumber(fields[f + 1]) end
  end
  local pending = rcall('XPENDING', KEYS[1], group, entryId, entryId, 1)
  local deliveries = (pending[1] and tonumber(pending[1][4])) or 1
  local attempt = earlier + deliveries
  if attempt > maxAttempts then
    rcall('XADD', KEYS[2], '*', 'i', messageId, 'p', payload,
      'r', 'ack timeout: not acknowledged after ' .. (attempt - 1) .. ' deliveries (max ' .. maxAttempts .. ')',
      'a', attempt - 1)
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
out[2] = deadLettered
if reclaimed > 0 then rcall('HINCRBY', KEYS[3], 'redelivered', reclaimed) end
if deadLettered > 0 then
  rcall('HINCRBY', KEYS[3], 'deadLettered', deadLettered)
  rcall('HINCRBY', KEYS[3], 'redelivered', deadLettered)
end
if out[3] > 0 then rcall('HINCRBY', KEYS[3], 'lostTrimmed', out[3]) end
return out
