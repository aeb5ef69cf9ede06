-- transition_push_ack_and_pull: transition_and_push_many, then transition_ack_and_pull.
-- A worker whose finished task pushes follow-ups pushes them, stores and announces the
-- task, acks its message and takes the next, in one round trip; an error in a push
-- ends the script before the ack.
-- KEYS        per push, 8 keys (as transition_and_push_many); then the finished task's
--             record and its queue's 7 keys (as transition_ack_and_pull)
-- ARGV[1]     the number of pushes
-- ARGV[2..]   per push, as transition_and_push_many; then as transition_ack_and_pull
-- returns     {per push 1 if written (and pushed) else 0, transition_ack_and_pull's reply}
local now = now_ms()
local pushed = {}
local at = 2
local last = tonumber(ARGV[1]) * 8
for first = 1, last, 8 do
  local written, _, _, after = transition(KEYS[first], at)
  if written == 1 then
    push(queue_at(first + 1), ARGV[after], ARGV[after + 1], tonumber(ARGV[after + 2]), now,
      KEYS[first], tonumber(ARGV[after + 3]))
  end
  pushed[#pushed + 1] = written
  at = after + 4
end
local written, _, _, after = transition(KEYS[last + 1], at)
if written == 1 and ARGV[after + 2] ~= '' then
  redis.call('PUBLISH', ARGV[after + 2], ARGV[after + 3])
end
local q = queue_at(last + 2)
local result = { written, ack(q, ARGV[after], ARGV[after + 1], now), -2 }
take(q, now, tonumber(ARGV[after + 4]), tonumber(ARGV[after + 5]), tonumber(ARGV[after + 6]),
  ARGV[after + 7], claim_at(after + 8), result)
if #result == 3 then
  result[3] = next_due(q, now)  -- found nothing: the caller's next pull waits this long
end
return { pushed, result }
