-- transition_and_push: transition a record, and push a message only if it was written,
-- so the record exists before any worker can pull the message; the message is bound to
-- the record, which a pull may claim.
-- KEYS[1]     the record
-- KEYS[2..8]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1..]   the transition's: state, data, ttl_ms, write id, n, absent_ok, n states
-- then        message id, body, due time in server ms ('' for now), priority level
--             ('' for 0)
-- returns     1 if written (and pushed), else 0
local written, _, _, at = transition(KEYS[1], 1)
if written == 1 then
  push(queue_at(2), ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2]), now_ms(), KEYS[1],
    tonumber(ARGV[at + 3]))
end
return written
