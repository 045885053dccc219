--[[
  Streams mode: deletes up to `limit` of ONE partition's dead letters (oldest first), so a huge
  dead-letter stream is purged in bounded steps.

  KEYS[1] dlq    stream  dead letters
  ARGV[1] limit  most entries per call

  Returns: number of entries deleted.
]]
local rcall = redis.call
local ids = {}
for _, entry in ipairs(rcall('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[1]))) do ids[#ids + 1] = entry[1] end
if #ids == 0 then return 0 end
return rcall('XDEL', KEYS[1], unpack(ids))
