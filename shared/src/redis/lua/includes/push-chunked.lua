-- RPUSH/ZREM a long list of arguments in chunks that stay below Lua's unpack() stack limit.
local function pushChunked(command, key, items)
  local chunk = 4000
  for i = 1, #items, chunk do
    redis.call(command, key, unpack(items, i, math.min(i + chunk - 1, #items)))
  end
end
