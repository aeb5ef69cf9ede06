-- pull: settle the queue (due delayed messages and expired leases), then lease up to N.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     N, the most messages to lease; 0 only settles and reports the size
-- ARGV[2]     lease in ms
-- ARGV[3]     max_deliveries: a message delivered that often is dead-lettered, not leased
-- ARGV[4]     receipt prefix (unique per call); the i-th lease's receipt is prefix .. i
-- returns     {wait, size, id, body, count, receipt, enqueued_ms, id, ...} where wait is
--             the ms until the next delayed message or lease falls due (-1: none) and
--             size the messages stored (only when N is 0, else -1)
local q = queue_at(1)
local now = now_ms()
local max_deliveries = tonumber(ARGV[3])
local moved = settle(q, now, max_deliveries)
local result = { 0, -1 }
local taken = 0
while taken < tonumber(ARGV[1]) do
  local id = redis.call('RPOP', q.ready)
  if not id then
    break
  end
  local count, enqueued = read_meta(q, id)
  if count then
    if count >= max_deliveries then
      bury(q, id, count, spent(count), now)  -- released under a laxer limit elsewhere
    else
      taken = taken + 1
      local receipt = ARGV[4] .. fmt(taken)
      write_meta(q, id, count + 1, enqueued, receipt)
      redis.call('ZADD', q.leases, fmt(now + tonumber(ARGV[2])), id)
      local body = redis.call('HGET', q.body, id) or ''
      for _, value in ipairs({ id, body, fmt(count + 1), receipt, enqueued }) do
        result[#result + 1] = value
      end
    end
  end
end
if redis.call('LLEN', q.ready) == 0 then
  redis.call('DEL', q.wake)  -- nothing to wake anyone for
elseif moved > 0 then
  wake(q, moved)  -- messages that became ready by time: wake pulls blocked elsewhere
end
result[1] = next_due(q, now)
if tonumber(ARGV[1]) == 0 then
  result[2] = redis.call('LLEN', q.ready) + redis.call('ZCARD', q.delayed)
    + redis.call('ZCARD', q.leases)
end
return result
