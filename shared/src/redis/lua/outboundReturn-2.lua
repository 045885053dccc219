--[[
  Gives a consumer's unfinished entries back to the shared queue they came from (a deliverer that
  stops hands its HTTP replies to the others at once), oldest first in line again.

  KEYS[1] processing  list  the consumer's entries in progress (newest at the head)
  KEYS[2] source      list  the queue they came from (consumed from the tail)

  Returns: how many entries moved.
]]
local rcall = redis.call
local moved = 0
while rcall('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
