--[[
  Lists mode: the leader fires one schedule tick, fenced, in one call: stores the message under the
  tick's id (`sched:<name>:<dueMs>`), appends it to the backlog (the held list while flow control
  holds routing) and moves the schedule's last-fired mark to the tick. A tick at or before the mark was
  already handled (by this leader or one before it) and is not written again, so each tick yields
  exactly one message across failovers.

  KEYS[1] epoch      string  fencing epoch
  KEYS[2] schedules  hash    name -> spec; a removed schedule fires nothing
  KEYS[3] state      hash    <name>:last, <name>:runs, <name>:skipped
  KEYS[4] body       hash    id -> payload
  KEYS[5] backlog    list    ids waiting for routing (or the held list)
  KEYS[6] totals     hash    cluster-wide counters

  ARGV[1] epoch    the caller's epoch; rejected unless it equals KEYS[1]
  ARGV[2] name     the schedule
  ARGV[3] dueMs    the tick's due time (Unix ms)
  ARGV[4] payload  the message ('' = advance the mark only: a tick skipped by the --missed policy)
  ARGV[5] id       the message id

  Returns: {fired (1 | 0), last-fired mark after the call}
  Errors:  {-1} when the epoch is stale (the caller must step down).
]]
--- @include schedule-mark
local rcall = redis.call
if rcall('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
local name = ARGV[2]
local moved, mark = advanceScheduleMark(KEYS[2], KEYS[3], name, ARGV[3])
if not moved then
  return {0, mark}
end
if ARGV[4] == '' then
  rcall('HINCRBY', KEYS[3], name .. ':skipped', 1)
  return {0, mark}
end
if rcall('HSETNX', KEYS[4], ARGV[5], ARGV[4]) == 1 then
  rcall('RPUSH', KEYS[5], ARGV[5])
  rcall('HINCRBY', KEYS[6], 'accepted', 1)
end
rcall('HINCRBY', KEYS[3], name .. ':runs', 1)
return {1, mark}
