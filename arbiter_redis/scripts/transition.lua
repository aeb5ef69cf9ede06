-- transition: compare a record's state with the accepted ones and write it if allowed.
-- KEYS[1]     the record
-- ARGV[1..]   state, data, ttl_ms, write id, n (-1: unconditional), absent_ok, n states
-- returns     {written (0/1), state now stored or nil, data now stored or nil}
local written, state, data = transition(KEYS[1], 1)
return { written, state, data }
