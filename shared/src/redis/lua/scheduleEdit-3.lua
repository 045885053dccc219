--[[
  An admin's schedule add or remove (`redispatch schedule add|remove`, docs/flow-control.md). The spec
  is stored as given (validated in TypeScript); the leader re-reads the schedules when the version
  moves. A removed schedule's state goes with it; a re-added name keeps its last-fired mark, so a tick
  already fired is never fired again under the same message id.

  KEYS[1] schedules  hash    name -> spec (JSON)
  KEYS[2] state      hash    <name>:last, <name>:runs, <name>:skipped (scheduleFire-6 / scheduleAdvance-3)
  KEYS[3] version    string  bumped on every change

  ARGV[1] op    'add' | 'remove'
  ARGV[2] name  the schedule's name
  ARGV[3] spec  the spec (add only)

  Returns: {changed (1 | 0), version}; remove of an unknown name changes nothing.
]]
local rcall = redis.call
local name = ARGV[2]
if ARGV[1] == 'add' then
  rcall('HSET', KEYS[1], name, ARGV[3])
else
  if rcall('HDEL', KEYS[1], name) == 0 then
    return {0, tonumber(rcall('GET', KEYS[3]) or '0')}
  end
  rcall('HDEL', KEYS[2], name .. ':last', name .. ':runs', name .. ':skipped')
end
return {1, rcall('INCR', KEYS[3])}
