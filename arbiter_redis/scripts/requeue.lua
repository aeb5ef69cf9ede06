-- requeue: move dead letters back to the queue, ready at once, each keeping its message id,
-- body, record and priority level, with its delivery count reset; a record its burial ended is revived
-- (see lib.lua's revive_record). One script, so of racing requeues one takes each letter.
-- KEYS[1..7]  the queue: ready, delayed, leases, body, meta, dead, wake
-- ARGV[1]     '*': the oldest N dead letters, N in ARGV[2]; '=': the ids in ARGV[2..]
-- returns     the message ids requeued, oldest first (an id not found is skipped)
local q = queue_at(1)
local now = now_ms()
local entries
local wanted = nil
if ARGV[1] == '*' then
  entries = redis.call('XRANGE', q.dead, '-', '+', 'COUNT', tonumber(ARGV[2]))
else
  wanted = {}
  for i = 2, #ARGV do
    wanted[ARGV[i]] = true
  end
  entries = redis.call('XRANGE', q.dead, '-', '+')
end
local requeued = {}
for _, entry in ipairs(entries) do
  local fields = {}
  for i = 1, #entry[2], 2 do
    fields[entry[2][i]] = entry[2][i + 1]
  end
  local id = fields['id']
  if id and (not wanted or wanted[id]) and redis.call('HEXISTS', q.body, id) == 0 then
    redis.call('XDEL', q.dead, entry[1])
    local record = fields['record'] or ''
    revive_record(record)
    push(q, id, fields['body'] or '', nil, now, record, tonumber(fields['priority']) or 0)
    requeued[#requeued + 1] = id
    if wanted then
      wanted[id] = nil
    end
  end
end
if #requeued > 0 and redis.call('XLEN', q.dead) == 0 then
  redis.call('DEL', q.dead)  -- an empty stream would still list the queue as known
end
return requeued
