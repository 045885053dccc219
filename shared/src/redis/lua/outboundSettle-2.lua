--[[
  Finishes outbound entries a consumer took: delivered ones leave its processing list, dead ones
  move from it to the outbound dead-letter list with their reason, in one call per batch.

  KEYS[1] processing  list  the consumer's entries in progress
  KEYS[2] dead        list  outbound dead letters: deadAtMs..':'..#reason..':'..reason..entry
  ARGV[1] doneCount   entries delivered (or dropped by the fallback), which follow
  ARGV[2..] doneCount entries, then (reason, entry) pairs to dead-letter

  Returns: {removed, deadLettered}; an entry no longer in the processing list (finished twice, or
           swept) is not counted and not dead-lettered again.
]]
--- @include now
local rcall = redis.call
local now = nowMs()
local doneCount = tonumber(ARGV[1])
local removed, dead = 0, 0
for i = 2, doneCount + 1 do
  removed = removed + rcall('LREM', KEYS[1], 1, ARGV[i])
end
for i = doneCount + 2, #ARGV - 1, 2 do
  local reason, entry = ARGV[i], ARGV[i + 1]
  if rcall('LREM', KEYS[1], 1, entry) > 0 then
    rcall('LPUSH', KEYS[2], now .. ':' .. #reason .. ':' .. reason .. entry)
    dead = dead + 1
  end
end
return {removed, dead}
