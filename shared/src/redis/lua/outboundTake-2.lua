--[[
  A relay or deliverer takes up to `count` outbound entries, oldest first, into its own processing
  list (the reliable-queue pattern: an entry is always in exactly one of the two lists until it is
  delivered or dead-lettered, so a consumer that crashes loses nothing; it resumes its processing
  list on restart).

  KEYS[1] source      list  outbound queue (newest at the head, taken from the tail)
  KEYS[2] processing  list  this consumer's entries in progress
  ARGV[1] count       most entries to move

  Returns: {nowMs (server clock, for retention), entry...} oldest first.
]]
--- @include now
local rcall = redis.call
local out = { nowMs() }
for _ = 1, tonumber(ARGV[1]) do
  local entry = rcall('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not entry then break end
  out[#out + 1] = entry
end
return out
