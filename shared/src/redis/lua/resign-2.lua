--[[
  Clears the leader info record when the leader steps down, but only if it still names this
  leader's epoch (a newer leader's record is left alone).

  KEYS[1] epoch   string  the fencing epoch
  KEYS[2] leader  hash    leader info record
  ARGV[1] epoch   the resigning leader's epoch

  Returns: 1 when the record was cleared, 0 when a newer leader owns it.
]]
local rcall = redis.call
if rcall('HGET', KEYS[2], 'epoch') == ARGV[1] then
  rcall('DEL', KEYS[2])
  return 1
end
return 0
