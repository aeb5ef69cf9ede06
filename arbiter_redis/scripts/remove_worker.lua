-- remove_worker: drop a worker from the registry (a clean shutdown says goodbye).
-- KEYS[1]     workers: ZSET worker id -> expiry (server ms)
-- KEYS[2]     workers info: HASH worker id -> info
-- ARGV[1]     worker id
-- returns     1
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
