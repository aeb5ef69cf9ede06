-- dead_letter: move a leased message straight to the dead letters (it failed to decode
-- or verify), unexecuted.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     message id
-- ARGV[2]     receipt of the lease
-- ARGV[3]     reason
-- returns     1, or 0 if the receipt no longer holds the lease (nothing changes)
local q = queue_at(1)
local now = now_ms()
local count, _, record, level = held(q, ARGV[1], ARGV[2], now)
if not count then
  return 0
end
redis.call('ZREM', q.leases, ARGV[1])
bury(q, ARGV[1], count, ARGV[3], now, record, level)
return 1
