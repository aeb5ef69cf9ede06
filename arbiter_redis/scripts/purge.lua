-- purge: drop up to N ready and delayed messages (leased ones stay with their consumers),
-- ending the record each was pushed with as a burial does (see lib.lua's end_record).
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     N, the most messages to drop in this call (the client calls again until 0)
-- ARGV[2]     max_deliveries, to settle the queue first (expired leases count as ready)
-- ARGV[3]     the reason written into the records ended
-- returns     how many messages were dropped
local q = queue_at(1)
local n = tonumber(ARGV[1])
settle(q, now_ms(), tonumber(ARGV[2]))
local dropped = 0
local leveled = redis.call('EXISTS', q.levels) == 1
while dropped < n do
  local id
  id, leveled = pop_ready(q, leveled)
  if not id then
    break
  end
  drop(q, id, ARGV[3])
  dropped = dropped + 1
end
if dropped < n then
  local delayed = redis.call('ZRANGE', q.delayed, 0, n - dropped - 1)
  if #delayed > 0 then
    redis.call('ZREM', q.delayed, unpack(delayed))
    for _, id in ipairs(delayed) do
      drop(q, id, ARGV[3])
    end
    dropped = dropped + #delayed
  end
end
if not leveled and redis.call('LLEN', q.ready) == 0 then
  redis.call('DEL', q.wake)
end
return dropped
