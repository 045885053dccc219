--[[
  Streams mode: sends dead letters of ONE partition back into its stream with a fresh attempt count.

  KEYS[1] dlq     stream  dead letters {i, p, r, a}
  KEYS[2] stream  stream  the partition
  KEYS[3] totals  hash    this partition's counters
  KEYS[4] priorityStream  stream  where a dead letter with a priority level (q) goes back to

  ARGV[1] mode   '*' = the oldest `limit` entries; '' = the message ids in ARGV[3..]
  ARGV[2] limit  most entries per call ('*' mode)
  ARGV[3..]      message ids to replay ('' mode)

  Returns: number of messages replayed.
]]
--- @include replay-entry
local rcall = redis.call
local replayed = 0
local function replay(entry)
  replayEntry(entry[2], KEYS[2], KEYS[4])
  rcall('XDEL', KEYS[1], entry[1])
  replayed = replayed + 1
end
if ARGV[1] == '*' then
  for _, entry in ipairs(rcall('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[2]))) do replay(entry) end
else
  local wanted = {}
  for i = 3, #ARGV do wanted[ARGV[i]] = true end
  local start = '-'
  while true do
    local page = rcall('XRANGE', KEYS[1], start, '+', 'COUNT', 500)
    if #page == 0 then break end
    for _, entry in ipairs(page) do
      local fields = entry[2]
      for f = 1, #fields, 2 do
        if fields[f] == 'i' and wanted[fields[f + 1]] then replay(entry) end
      end
    end
    if #page < 500 then break end
    start = '(' .. page[#page][1]
  end
end
if replayed > 0 then rcall('HINCRBY', KEYS[3], 'replayed', replayed) end
return replayed
