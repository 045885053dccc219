-- Per-message options a publisher set in the envelope (attempts, priority), kept beside the message
-- in the attempts hash so the leader never reads a body: the value is "<deliveries>" for a message
-- without options (unchanged, so they cost nothing) or "<deliveries>|<options>", options being
-- "a<maxAttempts>" and/or "p<priority>" (e.g. "2|a5p7"), then, after a traced nack, "x<hex>": the
-- failed attempt's span context (50 hex digits, shared/src/tracing/attempt-link.ts) for the next
-- attempt's link. Only messages with options pay for parsing.

-- Deliveries so far in an attempts-hash value (false/nil = 0).
local function deliveriesOf(value)
  if not value then return 0 end
  local bar = string.find(value, '|', 1, true)
  if bar then return tonumber(string.sub(value, 1, bar - 1)) end
  return tonumber(value)
end

-- The options part of a value, with its bar ("" when there is none): kept across rewrites.
local function optionsOf(value)
  if not value then return '' end
  local bar = string.find(value, '|', 1, true)
  if bar then return string.sub(value, bar) end
  return ''
end

-- The message's own attempt limit, or the deployment's.
local function attemptLimitOf(value, default)
  if not value then return default end
  -- Right after the bar: the span-context hex of "x<hex>" may hold an 'a' followed by digits.
  local limit = string.match(value, '|a(%d+)')
  if limit then return tonumber(limit) end
  return default
end

-- 0..9; 0 when the publisher set none.
local function priorityOf(value)
  if not value then return 0 end
  local priority = string.match(value, '|.*p(%d)')
  if priority then return tonumber(priority) end
  return 0
end

-- The claim's attempt number for a message whose options (optionsOf) are known: "<attempt>x<hex>"
-- when a traced nack left the previous attempt's span context, else the number.
local function attemptWithLink(attempt, options)
  if options == '' then return attempt end
  local link = string.match(options, 'x(%x+)$')
  if link then return attempt .. 'x' .. link end
  return attempt
end

-- A nack's attempts-hash value with the failed attempt's span context (replacing an earlier one).
local function withAttemptLink(value, link)
  value = value or '0'
  local bar = string.find(value, '|', 1, true)
  if not bar then return value .. '|x' .. link end
  return (string.gsub(value, 'x%x+$', '')) .. 'x' .. link
end
