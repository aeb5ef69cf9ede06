-- transition_ack_and_pull: transition_and_ack, then lease up to N messages of the same queue.
-- A worker that finished a task stores it and takes its next message in one round trip.
-- KEYS[1]     the record
-- KEYS[2..8]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1..]   the transition's: state, data, ttl_ms, write id, n, absent_ok, n states
-- then        message id, receipt, channel ('' for none), payload,
--             N, lease in ms, max_deliveries, receipt prefix, claim (as pull's ARGV)
-- returns     {written (0/1), acked (0/1), wait, then per message as pull's reply}, where
--             wait is as pull's when nothing was leased, else -2
local written, _, _, at = transition(KEYS[1], 1)
if written == 1 and ARGV[at + 2] ~= '' then
  redis.call('PUBLISH', ARGV[at + 2], ARGV[at + 3])
end
local q = queue_at(2)
local now = now_ms()
local result = { written, ack(q, ARGV[at], ARGV[at + 1], now), -2 }
take(q, now, tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]),
  ARGV[at + 7], claim_at(at + 8), result)
if #result == 3 then
  result[3] = next_due(q, now)  -- found nothing: the caller's next pull waits this long
end
return result
