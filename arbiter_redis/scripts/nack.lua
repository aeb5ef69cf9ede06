-- nack: release a lease; the message is ready again (at the front of its priority level),
-- delayed, or dead if spent.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     message id
-- ARGV[2]     receipt of the lease
-- ARGV[3]     delay in ms before it is deliverable again (0: at once)
-- ARGV[4]     max_deliveries
-- returns     1, or 0 if the receipt no longer holds the lease (nothing changes)
local q = queue_at(1)
local now = now_ms()
local id = ARGV[1]
local count, enqueued, record, level = held(q, id, ARGV[2], now)
if not count then
  return 0
end
redis.call('ZREM', q.leases, id)
if count >= tonumber(ARGV[4]) then
  bury(q, id, count, spent(count), now, record, level)
  return 1
end
write_meta(q, id, count, enqueued, '', record, level)
local delay = tonumber(ARGV[3])
if delay > 0 then
  redis.call('ZADD', q.delayed, fmt(now + delay), id)
else
  make_ready(q, id, level, true)
end
wake(q, 1)
return 1
