-- The results stream (REDISPATCH_RESULTS=stream), written in the same call as the acks. The section
-- is there only when the worker has results to write, so a worker without it sends nothing extra:
-- args[base]       'results'  marks the section (a reply section starts with a number instead)
-- args[base + 1]   key        the results stream, in the slot of the acks (keys.ts / partition-keys.ts)
-- args[base + 2]   maxLen     approximate cap of the stream (XADD MAXLEN ~)
-- args[base + 3]   count      (ackRef, id, result) triples that follow: ackRef is what `acked` is
--                             keyed by (lists: the id; streams: the entry id), id the message id
-- Only results of ackRefs this call acked are written: a nack or a stale ack writes nothing.
-- Returns written, and the index in args just past the section (where a reply section may start).
local function writeResults(args, base, acked)
  if args[base] ~= 'results' then return 0, base end
  local key, maxLen, count = args[base + 1], args[base + 2], tonumber(args[base + 3])
  local written = 0
  local first = base + 4
  for i = first, first + 3 * (count - 1), 3 do
    if acked[args[i]] then
      redis.call('XADD', key, 'MAXLEN', '~', maxLen, '*', 'id', args[i + 1], 'result', args[i + 2])
      written = written + 1
    end
  end
  return written, first + 3 * count
end
