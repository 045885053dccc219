--[[
  Streams mode: replies of acked messages, written to their outbound queues BEFORE the ack goes to
  the message's partition (another slot, so not in the same call). A crash between the two, or an
  ack that turns out stale, can repeat a reply (at-least-once replies); a reply is never lost.

  KEYS[1] relays  zset  registered relays (tag..':relays'); it routes the call to the deployment's slot
  ARGV[1] outboundMax   most entries one outbound queue holds; past it a reply is dead-lettered
  ARGV[2] tag           the deployment's hash tag; queues are tag..':out:'..route
  ARGV[3..]             (id, route, tail) triples

  Returns: {written, deadLettered}
]]
--- @include now
--- @include write-replies
local acked = {}
for i = 3, #ARGV - 2, 3 do acked[ARGV[i]] = true end
local written, deadLettered = writeReplies(ARGV, 1, acked, nowMs())
return {written, deadLettered}
