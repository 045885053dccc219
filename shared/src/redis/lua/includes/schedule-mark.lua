-- A schedule tick is handled once: the leader moves the schedule's last-fired mark to the tick only
-- when the schedule still exists and the tick is newer than the mark (a failover's new leader finds
-- the mark its predecessor left). Shared by scheduleFire (lists) and scheduleAdvance (streams).
-- Returns true and the tick when the mark moved; false and the mark as it stands otherwise.
local function advanceScheduleMark(schedules, state, name, dueText)
  local last = tonumber(redis.call('HGET', state, name .. ':last') or '0')
  if redis.call('HEXISTS', schedules, name) == 0 or tonumber(dueText) <= last then
    return false, last
  end
  redis.call('HSET', state, name .. ':last', dueText)
  return true, tonumber(dueText)
end
