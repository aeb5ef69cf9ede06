-- pull: settle the queue (due delayed messages and expired leases), then lease up to N.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     N, the most messages to lease; 0 only settles and reports the size
-- ARGV[2]     lease in ms
-- ARGV[3]     max_deliveries: a message delivered that often is dead-lettered, not leased
-- ARGV[4]     receipt prefix (unique per call); the i-th lease's receipt is prefix .. i
-- ARGV[5..]   the claim: state ('' for none), ttl_ms, n, n states it may move from
-- returns     {wait, size, then per message: id, body, count, receipt, enqueued_ms,
--             claimed ('1', '0' or ''), state and data when refused} where wait is
--             the ms until the next delayed message or lease falls due (-1: none) and
--             size the messages stored (only when N is 0, else -1)
local q = queue_at(1)
local now = now_ms()
local n = tonumber(ARGV[1])
local result = { 0, -1 }
take(q, now, n, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], claim_at(5), result)
if #result == 2 then
  result[1] = next_due(q, now)  -- only an empty pull waits, and only it needs this
end
if n == 0 then
  result[2] = ready_count(q) + redis.call('ZCARD', q.delayed)
    + redis.call('ZCARD', q.leases)
end
return result
