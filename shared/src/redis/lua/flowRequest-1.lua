--[[
  An admin's request to pause or resume routing (`redispatch pause` / `resume`). It records only
  what is wanted; the current leader applies it with flowApply-4.lua, fenced, so the state that
  governs routing is changed by the leader's scripts alone (guarantee 10).

  KEYS[1] flow  hash  requested ('paused' | 'running'), requestSeq, state, appliedSeq, appliedEpoch

  ARGV[1] requested  'paused' | 'running'

  Returns: the request's sequence number (the leader reports it as appliedSeq once applied).
]]
local rcall = redis.call
rcall('HSET', KEYS[1], 'requested', ARGV[1])
return rcall('HINCRBY', KEYS[1], 'requestSeq', 1)
