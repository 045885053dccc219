-- Per-key limits in streams mode, the leader's side: holding a fresh message behind its key's
-- earlier ones (includes/key-gate.lua describes the keys; include it first).

local function gateHold(g, key, id, payload, limit, due)
  redis.call('RPUSH', g .. 'h:' .. key, id)
  redis.call('HSET', g .. 'b', id, (limit or '') .. '|' .. payload)
  redis.call('SADD', g .. 'w', key)
  if due then redis.call('ZADD', g .. 'due', due, key) end
end

-- A fresh message of `key`: appended at once when nothing of its key is held and a slot and a token
-- are free, else held behind the key's earlier ones. Returns nil (appended) or the limit holding it.
local function gateEnter(g, cfg, stream, key, id, payload, limit, now)
  local reason, due
  if redis.call('EXISTS', g .. 'h:' .. key) == 1 then
    local busy = cfg.concurrency > 0 and tonumber(redis.call('HGET', g .. 'c', key) or '0') >= cfg.concurrency
    reason = busy and 'concurrency' or 'rate'
  else
    reason, due = gateTake(g, cfg, key, now)
  end
  if reason then
    gateHold(g, key, id, payload, limit, due)
    return reason
  end
  gateAppend(stream, cfg.concurrency > 0, key, id, payload, nil, limit)
  return nil
end

-- A delayed message coming due. A retry keeps its slot; a fresh one enters its key's gate. Returns
-- nil for a message without a key (the caller appends it as usual), else 'appended' or the limit.
local function gatePromote(g, cfg, stream, id, payload, earlier, limit, now)
  local mark = redis.call('HGET', g .. 'd', id)
  if not mark then return nil end
  redis.call('HDEL', g .. 'd', id)
  local key = string.sub(mark, 2)
  if string.sub(mark, 1, 1) == 's' then
    gateAppend(stream, true, key, id, payload, earlier, limit)
    return 'appended'
  end
  return gateEnter(g, cfg, stream, key, id, payload, limit, now) or 'appended'
end
