-- lib.lua: helpers shared by the queue and record scripts. Not a script by itself: the
-- loader (arbiter_redis/scripts/__init__.py) prepends the constants from keys.py and this
-- file to each script. Every function gets the keys it touches from its caller, which
-- took them from KEYS, so no script touches a key it was not given (Redis Cluster) --
-- with one exception: a claiming pull, and the burial of a message, touch the record the
-- message was pushed with, whose key they read from the message's meta. It shares the
-- namespace's hash tag, so it lives in the same slot.
--
-- A queue is a table of its seven keys (see keys.py): ready, delayed, leases, body,
-- meta, dead, wake, plus `levels`, built from `ready` (same hash tag, so the same slot).
-- A message's meta field is "count|enqueued_ms|receipt|record", the receipt empty while
-- nobody holds a lease, the record the key of the record it was pushed with (empty for
-- none; older messages lack the field). A message of priority level L (1 to 9) has
-- "count|enqueued_ms|receipt|L|record" instead: a record key starts with '{' (the hash
-- tag), so the digit cannot be mistaken for one. Level 0 (the default) is ready in
-- `ready`; level L in the LIST `ready` .. L, and the ZSET `levels` holds each L whose
-- list is not empty, so a pull finds the highest level in one call, and a queue that
-- uses no priorities pays one EXISTS per pull. Times are the server's (TIME), in ms.

local function fmt(n)
  return string.format('%d', n)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function queue_at(first)
  return {
    ready = KEYS[first], delayed = KEYS[first + 1], leases = KEYS[first + 2],
    body = KEYS[first + 3], meta = KEYS[first + 4], dead = KEYS[first + 5],
    wake = KEYS[first + 6],
    levels = string.sub(KEYS[first], 1, -6) .. 'levels',  -- '...:ready' -> '...:levels'
  }
end

-- count (a number), enqueued_ms (a string), receipt, record key and priority level (a
-- number) of message `id`; nil if gone
local function read_meta(q, id)
  local value = redis.call('HGET', q.meta, id)
  if not value then
    return nil
  end
  local count, enqueued, receipt, level, record =
    string.match(value, '^(%d+)|(%d+)|([^|]*)|?(%d?)|?(.*)$')
  return tonumber(count), enqueued, receipt, record, tonumber(level) or 0
end

local function write_meta(q, id, count, enqueued, receipt, record, level)
  local head = fmt(count) .. '|' .. enqueued .. '|' .. receipt .. '|'
  if level and level > 0 then
    head = head .. fmt(level) .. '|'
  end
  redis.call('HSET', q.meta, id, head .. record)
end

-- The priority level of message `id` (0 if gone or of the default level).
local function level_of(q, id)
  local value = redis.call('HGET', q.meta, id)
  return value and tonumber(string.match(value, '^%d+|%d+|[^|]*|(%d)|')) or 0
end

-- Make message `id` of level `level` ready: at the back of its level's line, or at the
-- front (`front`: a redelivery goes first within its level).
local function make_ready(q, id, level, front)
  local command = front and 'RPUSH' or 'LPUSH'
  if level == 0 then
    redis.call(command, q.ready, id)
    return
  end
  redis.call(command, q.ready .. fmt(level), id)
  redis.call('ZADD', q.levels, level, fmt(level))
end

-- The next ready message: the front of the highest non-empty level (`leveled`: the
-- caller saw `levels` exist), else of `ready`. Returns the id (nil if none) and whether
-- levels above 0 remain.
local function pop_ready(q, leveled)
  while leveled do
    local top = redis.call('ZREVRANGE', q.levels, 0, 0)[1]
    if not top then
      break
    end
    local line = q.ready .. top
    local id = redis.call('RPOP', line)
    if redis.call('LLEN', line) == 0 then
      redis.call('ZREM', q.levels, top)
    end
    if id then
      return id, redis.call('EXISTS', q.levels) == 1
    end
  end
  return redis.call('RPOP', q.ready), false
end

-- Ready messages of every level.
local function ready_count(q)
  local count = redis.call('LLEN', q.ready)
  for _, level in ipairs(redis.call('ZRANGE', q.levels, 0, -1)) do
    count = count + redis.call('LLEN', q.ready .. level)
  end
  return count
end

local function spent(count)
  return 'delivered ' .. fmt(count) .. ' times without an ack'
end

-- Let `n` blocked pulls know there is something to look at (one token wakes one BLPOP).
local function wake(q, n)
  n = math.min(n, WAKE_TOKENS_MAX)
  if n < 1 then
    return
  end
  local tokens = {}
  for i = 1, n do
    tokens[i] = '1'
  end
  redis.call('LPUSH', q.wake, unpack(tokens))
  redis.call('LTRIM', q.wake, 0, WAKE_TOKENS_MAX - 1)
  redis.call('PEXPIRE', q.wake, WAKE_TTL_MS)
end

-- End the record a buried message was bound to (see arbiter_core/node/burial.py): unless
-- it is gone or final, it takes DEAD_STATE with the reason in front of its data (expiry
-- kept, write id cleared, as a claim does), and BURIED_EVENT announces its key. The record
-- shares the queue's hash tag; the event's channel is built from that tag.
local function end_record(record, reason)
  if not record or record == '' then
    return
  end
  local current = redis.call('HMGET', record, 'state', 'data')
  if not current[1] or FINAL_STATES[current[1]] then
    return
  end
  local data = 'dead:' .. fmt(#reason) .. ':' .. reason .. (current[2] or '')
  redis.call('HSET', record, 'state', DEAD_STATE, 'data', data, 'write', '')
  local tag, key = string.match(record, '^({[^}]*}):r:(.*)$')
  if tag then
    redis.call('PUBLISH', tag .. ':e:' .. BURIED_EVENT, key)
  end
end

-- Undo end_record when a dead letter is requeued: a record in DEAD_STATE takes
-- REQUEUED_STATE and the data it had before the burial ("dead:<n>:<reason>" dropped from
-- the front), expiry kept, write id cleared. Any other record, or none, is left alone.
local function revive_record(record)
  if not record or record == '' then
    return
  end
  local current = redis.call('HMGET', record, 'state', 'data')
  if current[1] ~= DEAD_STATE then
    return
  end
  local data = current[2] or ''
  local size, rest = string.match(data, '^dead:(%d+):(.*)$')
  if size and tonumber(size) <= #rest then
    data = string.sub(rest, tonumber(size) + 1)
  end
  redis.call('HSET', record, 'state', REQUEUED_STATE, 'data', data, 'write', '')
end

-- Drop an unleased message nobody will run (a purge), ending its record as a burial does.
local function drop(q, id, reason)
  local _, _, _, record = read_meta(q, id)
  end_record(record, reason)
  redis.call('HDEL', q.body, id)
  redis.call('HDEL', q.meta, id)
end

-- Move an unleased message (already out of ready, delayed and leases) to the dead letters,
-- ending the record it was pushed with (`record`, '' for none), whose key the letter
-- keeps so a requeue can bind the message to it again, as it keeps its level (if not 0).
local function bury(q, id, count, reason, now, record, level)
  end_record(record, reason)
  local body = redis.call('HGET', q.body, id) or ''
  if level and level > 0 then
    redis.call('XADD', q.dead, 'MAXLEN', '~', DEAD_LETTER_LIMIT, '*',
      'id', id, 'body', body, 'reason', reason, 'count', fmt(count), 'dead_at', fmt(now),
      'record', record or '', 'priority', fmt(level))
  else
    redis.call('XADD', q.dead, 'MAXLEN', '~', DEAD_LETTER_LIMIT, '*',
      'id', id, 'body', body, 'reason', reason, 'count', fmt(count), 'dead_at', fmt(now),
      'record', record or '')
  end
  redis.call('PEXPIRE', q.dead, DEAD_LETTER_TTL_MS)
  redis.call('HDEL', q.body, id)
  redis.call('HDEL', q.meta, id)
end

-- A message whose meta is missing or does not parse cannot be leased or counted: its body,
-- if any, goes to the dead letters, so nothing of it is left behind for ever.
local function discard_unreadable(q, id, now)
  if redis.call('HEXISTS', q.body, id) == 1 then
    bury(q, id, 0, 'its delivery metadata is missing or malformed', now, '')
  else
    redis.call('HDEL', q.meta, id)
  end
end

-- Store a new message of priority `level` (nil or 0: the default): ready now, or delayed
-- until `due` (server ms); `record` is the key of the record pushed with it ('' for
-- none), which a pull may claim. 0 if `id` exists already (a client retrying a push whose
-- reply was lost), so a retry never duplicates.
local function push(q, id, body, due, now, record, level)
  if redis.call('HSETNX', q.body, id, body) == 0 then
    return 0
  end
  level = level or 0
  if level > 0 then
    redis.call('HSET', q.meta, id, '0|' .. fmt(now) .. '||' .. fmt(level) .. '|' .. record)
  else
    redis.call('HSET', q.meta, id, '0|' .. fmt(now) .. '||' .. record)
  end
  if due and due > now then
    redis.call('ZADD', q.delayed, fmt(due), id)
  else
    make_ready(q, id, level, false)
  end
  -- A delayed message wakes a blocked pull too, so it shortens its wait to the new due time.
  wake(q, 1)
  return 1
end

-- Apply what fell due by `now`: due delayed messages to the back of their level's ready
-- line (in due order), expired leases to the front (earliest first), or to the dead
-- letters when spent. Bounded per call; returns how many messages became ready.
local function settle(q, now, max_deliveries)
  local moved = 0
  local due = redis.call('ZRANGEBYSCORE', q.delayed, '-inf', fmt(now), 'LIMIT', 0, SETTLE_BATCH)
  if #due > 0 then
    redis.call('ZREM', q.delayed, unpack(due))
    local plain = {}
    for _, id in ipairs(due) do
      local level = level_of(q, id)
      if level == 0 then
        plain[#plain + 1] = id
      else
        make_ready(q, id, level, false)
      end
    end
    if #plain > 0 then
      redis.call('LPUSH', q.ready, unpack(plain))
    end
    moved = moved + #due
  end
  local expired = redis.call('ZRANGEBYSCORE', q.leases, '-inf', fmt(now), 'LIMIT', 0, SETTLE_BATCH)
  if #expired > 0 then
    redis.call('ZREM', q.leases, unpack(expired))
    local back, levels = {}, {}
    for _, id in ipairs(expired) do
      local count, enqueued, _, record, level = read_meta(q, id)
      if count then
        if count >= max_deliveries then
          bury(q, id, count, spent(count), now, record, level)
        else
          write_meta(q, id, count, enqueued, '', record, level)
          back[#back + 1] = id
          levels[#back] = level
        end
      else
        discard_unreadable(q, id, now)
      end
    end
    for i = #back, 1, -1 do  -- pushed last, RPOPped first: the earliest expired leads
      make_ready(q, back[i], levels[i], true)
    end
    moved = moved + #back
  end
  return moved
end

-- Milliseconds until the next delayed message falls due or lease runs out; -1 if none.
local function next_due(q, now)
  local soonest = -1
  for _, key in ipairs({ q.delayed, q.leases }) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then
      local wait = math.max(0, tonumber(first[2]) - now)
      if soonest < 0 or wait < soonest then
        soonest = wait
      end
    end
  end
  return soonest
end

-- count, enqueued_ms, record key and level of message `id` if `receipt` still holds its
-- lease, else nil
local function held(q, id, receipt, now)
  local count, enqueued, current, record, level = read_meta(q, id)
  if not count or receipt == '' or current ~= receipt then
    return nil
  end
  local expires = redis.call('ZSCORE', q.leases, id)
  if not expires or tonumber(expires) <= now then
    return nil  -- ran out: the next pull reclaims it
  end
  return count, enqueued, record, level
end

-- Remove a leased message for good; 1 if `receipt` held the lease, else 0 (no change).
local function ack(q, id, receipt, now)
  if not held(q, id, receipt, now) then
    return 0
  end
  redis.call('ZREM', q.leases, id)
  redis.call('HDEL', q.body, id)
  redis.call('HDEL', q.meta, id)
  return 1
end

-- Compare-and-set a record. ARGV from `at`: state, data, ttl_ms, write id (random, per
-- call), n (-1: write unconditionally), absent_ok ('1': no record is acceptable), then n
-- accepted states. Returns written (0/1), the state and data now stored, and the next
-- ARGV index. A record that already carries this write id was written by this very call
-- before its reply was lost; the client's retry reports it written instead of refused.
local function transition(key, at)
  local state, data, ttl, write_id = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local n = tonumber(ARGV[at + 4])
  local after = at + 6 + math.max(n, 0)
  local current = redis.call('HMGET', key, 'state', 'data', 'write')
  if current[1] and current[3] == write_id then
    return 1, current[1], current[2], after
  end
  if n >= 0 then
    local allowed = false
    if not current[1] then
      allowed = ARGV[at + 5] == '1'
    else
      for i = at + 6, after - 1 do
        if ARGV[i] == current[1] then
          allowed = true
          break
        end
      end
    end
    if not allowed then
      return 0, current[1], current[2], after
    end
  end
  redis.call('HSET', key, 'state', state, 'data', data, 'write', write_id)
  redis.call('PEXPIRE', key, ttl)
  return 1, state, data, after
end

-- The claim a pull was given in ARGV from `at`: state ('' for none), ttl_ms, n, n states.
local function claim_at(at)
  if not ARGV[at] or ARGV[at] == '' then
    return nil
  end
  local expect = {}
  for i = at + 3, at + 2 + tonumber(ARGV[at + 2]) do
    expect[ARGV[i]] = true
  end
  return { state = ARGV[at], ttl = ARGV[at + 1], expect = expect }
end

-- Claim the record a leased message was pushed with: '1' if it moved to claim.state, or
-- '0' and its state and data if its state refuses; '' if there is no claim, no record
-- key, or no record (the caller then transitions the record itself).
local function claim_record(claim, record)
  if not claim or record == '' then
    return '', '', ''
  end
  local current = redis.call('HMGET', record, 'state', 'data')
  if not current[1] then
    return '', '', ''
  end
  if not claim.expect[current[1]] then
    return '0', current[1], current[2] or ''
  end
  -- The write id is cleared: a late retry of the call that queued it is not its own write.
  redis.call('HSET', record, 'state', claim.state, 'write', '')
  redis.call('PEXPIRE', record, claim.ttl)
  return '1', '', ''
end

-- Settle the queue, then lease up to `n` ready messages (highest level first), appending
-- id, body, count,
-- receipt, enqueued_ms and the claim's outcome (flag, state, data: see claim_record) of
-- each to `out`. The i-th lease's receipt is prefix .. i. Wake tokens follow what is
-- left: none if ready is empty, else one per message that became ready by time, for
-- pulls blocked elsewhere.
local function take(q, now, n, lease_ms, max_deliveries, prefix, claim, out)
  local moved = settle(q, now, max_deliveries)
  local taken = 0
  local leveled = redis.call('EXISTS', q.levels) == 1
  while taken < n do
    local id
    if leveled then
      id, leveled = pop_ready(q, true)
    else
      id = redis.call('RPOP', q.ready)
    end
    if not id then
      break
    end
    local count, enqueued, _, record, level = read_meta(q, id)
    if count then
      if count >= max_deliveries then
        -- released under a laxer limit elsewhere
        bury(q, id, count, spent(count), now, record, level)
      else
        taken = taken + 1
        local receipt = prefix .. fmt(taken)
        write_meta(q, id, count + 1, enqueued, receipt, record, level)
        redis.call('ZADD', q.leases, fmt(now + lease_ms), id)
        local body = redis.call('HGET', q.body, id) or ''
        local flag, state, data = claim_record(claim, record)
        for _, value in ipairs({ id, body, fmt(count + 1), receipt, enqueued, flag, state, data }) do
          out[#out + 1] = value
        end
      end
    else
      discard_unreadable(q, id, now)
    end
  end
  if not leveled and redis.call('LLEN', q.ready) == 0 then
    redis.call('DEL', q.wake)  -- nothing to wake anyone for
  elseif moved > 0 then
    wake(q, moved)
  end
end
