--[[
  Clears the leader info record when the leader steps down, but only if it still names this
  leader's epoch or this dispatcher's instance id (a newer leader's record is left alone). The id
  covers a takeover that failed before its election script answered: the client gave up on it (a
  command timeout), but Redis ran it later and wrote a record this process never learnt the epoch of.

  KEYS[1] epoch   string  the fencing epoch
  KEYS[2] leader  hash    leader info record
  ARGV[1] epoch   the resigning leader's epoch (0 when its election never answered)
  ARGV[2] id      optional: the resigning dispatcher's instance id

  Returns: 1 when the record was cleared, 0 when a newer leader owns it.
]]
local rcall = redis.call
local named = rcall('HMGET', KEYS[2], 'epoch', 'id')
if named[1] == ARGV[1] or (ARGV[2] ~= nil and named[2] == ARGV[2]) then
  rcall('DEL', KEYS[2])
  return 1
end
return 0
