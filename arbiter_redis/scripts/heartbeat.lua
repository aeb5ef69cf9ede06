-- heartbeat: register or refresh a live worker, and forget the expired ones.
-- KEYS[1]     workers: ZSET worker id -> expiry (server ms)
-- KEYS[2]     workers info: HASH worker id -> info
-- ARGV[1]     worker id
-- ARGV[2]     info
-- ARGV[3]     ttl in ms
-- returns     1
local now = now_ms()
redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
end
-- Both keys expire with the latest heartbeat, so a namespace whose workers all died is clean.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], fmt(tonumber(last[2])))
redis.call('PEXPIREAT', KEYS[2], fmt(tonumber(last[2])))
return 1
