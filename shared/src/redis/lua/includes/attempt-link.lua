-- The previous attempt's span context for tracing links across workers (shared/src/tracing/attempt-link.ts):
-- a traced nack's error text starts with byte 1 and 50 hex digits. Only traced nacks carry one.

-- Splits a nack's error text: the link (nil when the nack is not traced) and the error itself.
local function takeAttemptLink(err)
  if string.byte(err, 1) ~= 1 then return nil, err end
  return string.sub(err, 2, 51), string.sub(err, 52)
end

-- Streams mode: while a nacked message waits in the delayed set, its link waits in its own field of
-- the delayed-attempts hash, "l:<id>" -> "<attempt>:<hex>", never in the value a leader of the
-- previous version parses as numbers. It counts only for the attempt it came with: a leader of the
-- previous version promotes the retry without it and leaves the field behind.
local function delayedLinkField(id) return 'l:' .. id end

-- The hex for the retry whose delayed-attempts value starts with `attempts`, or nil.
local function delayedLinkOf(stored, attempts)
  local n, hex = string.match(stored or '', '^(%d+):(%x+)$')
  if n and n == string.match(attempts or '', '^%d+') then return hex end
  return nil
end
