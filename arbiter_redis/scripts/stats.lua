-- stats: settle the queue (as a pull does), then count its messages by where they are.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     max_deliveries: a lease that ran out on a spent message buries it
-- returns     {ready, delayed, leased, dead}
local q = queue_at(1)
settle(q, now_ms(), tonumber(ARGV[1]))
return {
  ready_count(q), redis.call('ZCARD', q.delayed), redis.call('ZCARD', q.leases),
  redis.call('XLEN', q.dead),
}
