-- renew: restart leases that are still held.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     lease in ms, counted from now
-- ARGV[2..]   pairs of message id, receipt
-- returns     per pair, 1 if renewed or 0 if the receipt no longer holds the lease
local q = queue_at(1)
local now = now_ms()
local expires = fmt(now + tonumber(ARGV[1]))
local result = {}
for i = 2, #ARGV, 2 do
  if held(q, ARGV[i], ARGV[i + 1], now) then
    redis.call('ZADD', q.leases, 'XX', expires, ARGV[i])
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
return result
