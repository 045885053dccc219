-- Priority in streams mode: a message with priority 1..9 is appended to the partition's priority
-- stream (same slot, same consumer group, read by workers ahead of the partition stream), with its
-- level in a 'q' field. That stream and its group are made by the first such message, so a partition
-- that never sees one has no extra key, and a message without a priority never reaches this code.

-- The level ('1'..'9') in a placement's options ('|a5p7' -> '7'), nil without one.
local function priorityLevel(options, from)
  return string.match(options, 'p(%d)', from)
end

-- Makes the priority stream and the group (at id 0, so nothing is skipped) unless they exist.
local function ensurePriorityStream(key, group)
  if redis.call('EXISTS', key) == 0 then
    pcall(redis.call, 'XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
  end
end

-- While a message waits in the delayed set, its level rides at the end of its delayed-attempts
-- value ("<attempts>[|<limit>]q<level>"). Returns the value without it (nil if nothing is left) and
-- the level (nil when the message has none).
local function splitPriority(value)
  local level = value and string.match(value, 'q(%d)$')
  if not level then return value, nil end
  value = string.sub(value, 1, -3)
  if value == '' then value = nil end
  return value, level
end

-- Before the level may come "x<hex>": the span context a traced nack left (includes/attempt-link.lua).
-- Returns the value without it and the hex (nil without one).
local function splitAttemptLink(value)
  local link = value and string.match(value, 'x(%x+)$')
  if not link then return value, nil end
  return string.sub(value, 1, -(#link + 2)), link
end
