--[[
  Streams mode: a new leader raises one partition's fence to its epoch before its first write there,
  and makes sure the consumer group exists (created at id 0, so no entry is ever skipped).

  KEYS[1] fence   string  this partition's fencing epoch
  KEYS[2] stream  stream  the partition stream
  ARGV[1] epoch   the new leader's epoch
  ARGV[2] group   consumer group name

  Returns: {epoch} when raised; {-1, current} when the fence already holds this epoch or a newer one.
  Strictly greater only: after a cluster failover that lost the epoch key's last INCR, a new leader
  can draw an epoch an old leader still holds; equal must not pass, or both would write.
]]
local rcall = redis.call
local current = tonumber(rcall('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
if current >= epoch then
  return {-1, current}
end
rcall('SET', KEYS[1], ARGV[1])
local ok = pcall(rcall, 'XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
if not ok then
  -- BUSYGROUP: it exists already, which is the normal case.
end
return {epoch}
