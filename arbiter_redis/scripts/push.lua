-- push: store a message on a queue, ready now or delayed.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     message id (made by the client, so a retried push is recognised)
-- ARGV[2]     body
-- ARGV[3]     due time in server ms, or '' for now
-- ARGV[4]     priority level 1 to 9, or '' for the default, 0
-- returns     1 if stored, 0 if that id was stored already
local q = queue_at(1)
return push(q, ARGV[1], ARGV[2], tonumber(ARGV[3]), now_ms(), '', tonumber(ARGV[4]))
