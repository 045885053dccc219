--[[
  Streams mode: after the leader appended a schedule tick's message through the fenced partition
  append (deduplicated on the tick's id `sched:<name>:<dueMs>`, so a re-append after a failover is
  dropped), this moves the schedule's last-fired mark to the tick, fenced. Also advances the mark
  without a message for a tick skipped by the --missed policy.

  KEYS[1] epoch      string  fencing epoch
  KEYS[2] schedules  hash    name -> spec; a removed schedule records nothing
  KEYS[3] state      hash    <name>:last, <name>:runs, <name>:skipped

  ARGV[1] epoch   the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] name    the schedule
  ARGV[3] dueMs   the tick's due time (Unix ms)
  ARGV[4] fired   '1' when a message was appended, '0' for a skipped tick

  Returns: {recorded (1 | 0), last-fired mark after the call}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local name = ARGV[2]
local due = tonumber(ARGV[3])
local last = tonumber(rcall('HGET', KEYS[3], name .. ':last') or '0')
if rcall('HEXISTS', KEYS[2], name) == 0 or due <= last then
  return {0, last}
end
rcall('HSET', KEYS[3], name .. ':last', ARGV[3])
rcall('HINCRBY', KEYS[3], name .. (ARGV[4] == '1' and ':runs' or ':skipped'), 1)
return {1, due}
