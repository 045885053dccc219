-- A dead letter back into its partition with a fresh attempt count: into the priority stream when it
-- carries a priority level (q) and that stream is there (it was, when the message was read from it),
-- else into the partition stream.
local function replayEntry(fields, stream, priorityStream)
  local id, payload, level = '', '', nil
  for f = 1, #fields, 2 do
    if fields[f] == 'i' then id = fields[f + 1]
    elseif fields[f] == 'p' then payload = fields[f + 1]
    elseif fields[f] == 'q' then level = fields[f + 1] end
  end
  if level and redis.call('EXISTS', priorityStream) == 1 then
    redis.call('XADD', priorityStream, '*', 'i', id, 'p', payload, 'q', level)
  else
    redis.call('XADD', stream, '*', 'i', id, 'p', payload)
  end
end
