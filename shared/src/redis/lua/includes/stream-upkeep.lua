-- The leader's upkeep of one stream of a partition (the partition stream, or its priority stream):
-- trims with MINID no newer than the group's oldest pending entry (nor past its last delivered one)
-- and removes consumers that are not live and own nothing there.
-- Returns trimmed, consumersRemoved, length, pending, undelivered (-1: Redis cannot tell),
-- oldestPendingMs (-1: nothing pending).
local function upkeepStream(stream, group, live)
  local lastDelivered, undelivered = '0-0', -1
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local fields = {}
    for f = 1, #info, 2 do fields[info[f]] = info[f + 1] end
    if fields['name'] == group then
      lastDelivered = fields['last-delivered-id']
      if type(fields['lag']) == 'number' then undelivered = fields['lag'] end
    end
  end

  -- Trim: everything older than the oldest pending entry is acknowledged; with nothing pending,
  -- everything up to the last delivered entry is. Entries not yet delivered are never touched.
  local summary = redis.call('XPENDING', stream, group)
  local pendingCount = tonumber(summary[1])
  local minId
  local oldestPendingMs = -1
  if pendingCount > 0 then
    minId = summary[2]
    oldestPendingMs = tonumber(string.match(summary[2], '^(%d+)'))
  else
    local ms, seq = string.match(lastDelivered, '^(%d+)-(%d+)$')
    minId = ms .. '-' .. (tonumber(seq) + 1)
  end
  local trimmed = redis.call('XTRIM', stream, 'MINID', minId)

  local removed = 0
  for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
    local fields = {}
    for f = 1, #info, 2 do fields[info[f]] = info[f + 1] end
    if tonumber(fields['pending']) == 0 and not live[fields['name']] then
      redis.call('XGROUP', 'DELCONSUMER', stream, group, fields['name'])
      removed = removed + 1
    end
  end
  return trimmed, removed, redis.call('XLEN', stream), pendingCount, undelivered, oldestPendingMs
end
