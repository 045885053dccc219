--[[
  Streams mode: sends the given dead-letter entries of ONE partition back into its stream with a
  fresh attempt count (entries deleted meanwhile are skipped).

  KEYS[1] dlq     stream  dead letters {i, p, r, a[, s]}
  KEYS[2] stream  stream  the partition
  KEYS[3] totals  hash    this partition's counters
  KEYS[4] priorityStream  stream  where a dead letter with a priority level (q) goes back to
  ARGV[1..]       dead-letter entry ids (not message ids)

  Returns: number of messages replayed.
]]
--- @include replay-entry
local rcall = redis.call
local replayed = 0
for _, entryId in ipairs(ARGV) do
  local found = rcall('XRANGE', KEYS[1], entryId, entryId)
  if #found == 1 then
    replayEntry(found[1][2], KEYS[2], KEYS[4])
    rcall('XDEL', KEYS[1], entryId)
    replayed = replayed + 1
  end
end
if replayed > 0 then rcall('HINCRBY', KEYS[3], 'replayed', replayed) end
return replayed
