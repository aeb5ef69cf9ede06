-- ack: remove a leased message for good.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     message id
-- ARGV[2]     receipt of the lease
-- returns     1, or 0 if the receipt no longer holds the lease (nothing changes)
return ack(queue_at(1), ARGV[1], ARGV[2], now_ms())
