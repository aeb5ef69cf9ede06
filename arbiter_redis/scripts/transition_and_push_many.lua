-- transition_and_push_many: transition_and_push for each item of a batch, in order.
-- KEYS        per item, 8 keys: the record, then the queue's ready, delayed, leases,
--             body, meta, dead, wake
-- ARGV        per item: the transition's (state, data, ttl_ms, write id, n, absent_ok,
--             n states), then message id, body, due time in server ms ('' for now),
--             priority level ('' for 0)
-- returns     per item, 1 if written (and pushed), else 0
local now = now_ms()
local out = {}
local at = 1
for first = 1, #KEYS, 8 do
  local written, _, _, after = transition(KEYS[first], at)
  if written == 1 then
    local due = tonumber(ARGV[after + 2])
    push(queue_at(first + 1), ARGV[after], ARGV[after + 1], due, now, KEYS[first],
      tonumber(ARGV[after + 3]))
  end
  out[#out + 1] = written
  at = after + 4
end
return out
