--[[
  Raises the fencing epoch for a newly elected leader and records who leads.
  Called once per election, after the Redlock lease is held; it is the fence itself, so it is
  not fenced.

  KEYS[1] epoch   string  the fencing epoch
  KEYS[2] leader  hash    leader info record (id, host, pid, epoch, since)
  ARGV[1] id      this dispatcher's instance id
  ARGV[2] host    host name
  ARGV[3] pid     process id
  ARGV[4] leaseMs lease length, stored for `stats`
  ARGV[5] floor   optional: the new epoch is above this too (streams mode: a partition fence that
                  survived while this key was lost in a cluster failover)

  Returns: the new epoch (integer, strictly greater than every earlier one).
]]
--- @include now
local rcall = redis.call
local floor = tonumber(ARGV[5] or '0') or 0
if tonumber(rcall('GET', KEYS[1]) or '0') < floor then rcall('SET', KEYS[1], floor) end
local epoch = rcall('INCR', KEYS[1])
rcall('DEL', KEYS[2])
rcall('HSET', KEYS[2], 'id', ARGV[1], 'host', ARGV[2], 'pid', ARGV[3], 'epoch', epoch,
  'since', nowMs(), 'leaseMs', ARGV[4])
return epoch
