-- Server time in milliseconds: every deadline uses Redis's clock, so skewed process clocks cannot
-- make a message expire early or late.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
