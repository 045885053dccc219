-- Per-message options a publisher set in the envelope (attempts, priority), kept beside the message
-- in the attempts hash so the leader never reads a body: the value is "<deliveries>" for a message
-- without options (unchanged, so they cost nothing) or "<deliveries>|<options>", options being
-- "a<maxAttempts>" and/or "p<priority>" (e.g. "2|a5p7"), then, after a traced nack, "X<HEX>": the
-- failed attempt's span context (50 hex digits, shared/src/tracing/attempt-link.ts, in upper case so
-- that no lower-case option pattern, a previous version's included, can match inside it) for the
-- next attempt's link; the next claim takes it off. Only messages with options pay for parsing.

-- Deliveries so far in an attempts-hash value (false/nil = 0): its leading digits.
local function deliveriesOf(value)
  if not value then return 0 end
  return tonumber(string.match(value, '^%d+')) or 0
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
  -- Right after the bar (placement.ts writes it first): nothing after it may be taken for a limit.
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

-- The claim hands a traced nack's link on once: returns the options to keep (without the link) and
-- the claim's attempt reply, "<attempt>x<hex>" with a link, else the number.
local function handOnAttemptLink(attempt, options)
  local link = options ~= '' and string.match(options, 'X(%x+)$')
  if not link then return options, attempt end
  options = string.sub(options, 1, -(#link + 2))
  if options == '|' then options = '' end
  return options, attempt .. 'x' .. string.lower(link)
end

-- A nack's attempts-hash value with the failed attempt's span context (replacing an earlier one).
local function withAttemptLink(value, link)
  value = value or '0'
  link = 'X' .. string.upper(link)
  if not string.find(value, '|', 1, true) then return value .. '|' .. link end
  return (string.gsub(value, 'X%x+$', '')) .. link
end
