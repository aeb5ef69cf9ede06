-- transition_and_ack: store an outcome, publish it if it was written, then ack the message.
-- Stored before acked: the caller's crash in between cannot happen inside one script, and a
-- lost lease still leaves the outcome stored (the redelivered duplicate finds it final).
-- KEYS[1]     the record
-- KEYS[2..8]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1..]   the transition's: state, data, ttl_ms, write id, n, absent_ok, n states
-- then        message id, receipt, channel ('' for none), payload
-- returns     {written (0/1), acked (0/1)}
local written, _, _, at = transition(KEYS[1], 1)
if written == 1 and ARGV[at + 2] ~= '' then
  redis.call('PUBLISH', ARGV[at + 2], ARGV[at + 3])
end
return { written, ack(queue_at(2), ARGV[at], ARGV[at + 1], now_ms()) }
