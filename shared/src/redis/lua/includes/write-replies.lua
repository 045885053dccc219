-- Replies written in the same call as their acks (needs the settle-messages include for `acked`).
-- args[base]     outboundMax  most entries one outbound queue holds; past it a reply is dead-lettered
-- args[base + 1] tag          the deployment's hash tag, e.g. "{rd}"; queues are tag..':out:'..route
-- args[base + 2..] (id, route, tail) triples: route is 'http' or 'relay:<relayId>'; tail is the
--                  entry the worker encoded, stored as now..':'..tail (see shared/src/outbound/entry.ts)
-- Only replies of ids this call acked are written: a stale ack (the claim expired and the message was
-- redelivered) writes nothing, so the attempt that does own the message is the one that replies.
-- A reply to a relay that is not registered (never was, or was swept after its retention) and a reply
-- to a full queue go to tag..':out-dlq' with the reason, never dropped silently.
-- Returns written, deadLettered.
local function deadLetterReply(dlq, now, reason, entry)
  redis.call('LPUSH', dlq, now .. ':' .. #reason .. ':' .. reason .. entry)
end

local function writeReplies(args, base, acked, now)
  local written, deadLettered = 0, 0
  if #args < base + 1 then return written, deadLettered end
  local max = tonumber(args[base])
  local tag = args[base + 1]
  local dlq = tag .. ':out-dlq'
  local relays = tag .. ':relays'
  for i = base + 2, #args - 2, 3 do
    local id, route, tail = args[i], args[i + 1], args[i + 2]
    if acked[id] then
      local entry = now .. ':' .. tail
      local key = tag .. ':out:' .. route
      if route ~= 'http' and not redis.call('ZSCORE', relays, string.sub(route, 7)) then
        deadLetterReply(dlq, now, 'unknown_relay', entry)
        deadLettered = deadLettered + 1
      elseif redis.call('LLEN', key) >= max then
        deadLetterReply(dlq, now, 'overflow', entry)
        deadLettered = deadLettered + 1
      else
        redis.call('LPUSH', key, entry)
        written = written + 1
      end
    end
  end
  return written, deadLettered
end
