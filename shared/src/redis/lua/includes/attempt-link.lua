-- The previous attempt's span context for tracing links across workers (shared/src/tracing/attempt-link.ts):
-- a traced nack's error text starts with byte 1 and 50 hex digits. Only traced nacks carry one.

-- Splits a nack's error text: the link (nil when the nack is not traced) and the error itself.
local function takeAttemptLink(err)
  if string.byte(err, 1) ~= 1 then return nil, err end
  return string.sub(err, 2, 51), string.sub(err, 52)
end
