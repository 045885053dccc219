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
--- @include schedule-mark
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local moved, mark = advanceScheduleMark(KEYS[2], KEYS[3], ARGV[2], ARGV[3])
if not moved then
  return {0, mark}
end
rcall('HINCRBY', KEYS[3], ARGV[2] .. (ARGV[4] == '1' and ':runs' or ':skipped'), 1)
return {1, mark}
