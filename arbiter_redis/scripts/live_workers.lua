-- live_workers: forget expired workers, then list the live ones with their info.
-- KEYS[1]     workers: ZSET worker id -> expiry (server ms)
-- KEYS[2]     workers info: HASH worker id -> info
-- returns     {id, info, id, info, ...}
local now = now_ms()
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then
  return {}
end
local infos = redis.call('HMGET', KEYS[2], unpack(ids))
local result = {}
for i, id in ipairs(ids) do
  result[#result + 1] = id
  result[#result + 1] = infos[i] or ''
end
return result
