-- Variadic commands over long argument lists, in chunks that stay below Lua's unpack() stack limit.
-- One command per chunk instead of one per message is most of what keeps a batch cheap in Redis.
-- The chunk is even, so (score, member) and (field, value) pairs never straddle two calls.
local CHUNK = 4000

local function pushChunked(command, key, items)
  for i = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
end

-- HMGET over any number of fields; the result has one entry per field (false when absent).
local function hmgetChunked(key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
