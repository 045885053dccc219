-- Needs the message-options include.
-- Puts `id` (priority p > 0) into `list` ahead of every entry of lower priority and behind those of
-- equal or higher priority. Prioritized entries sit at the head, so only a bounded head is read.
local PRIORITY_SCAN = 64
local function insertByPriority(list, attemptsKey, id, p)
  local head = redis.call('LRANGE', list, 0, PRIORITY_SCAN - 1)
  if #head == 0 then
    redis.call('LPUSH', list, id)
    return
  end
  local values = redis.call('HMGET', attemptsKey, unpack(head))
  for i = 1, #head do
    if priorityOf(values[i]) < p then
      if i == 1 then
        redis.call('LPUSH', list, id)
      else
        redis.call('LINSERT', list, 'BEFORE', head[i], id)
      end
      return
    end
  end
  redis.call('LINSERT', list, 'AFTER', head[#head], id)
end
