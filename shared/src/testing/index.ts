export { freePort } from './free-port.js';
export { startRedis } from './start-redis.js';
export { hasRedisServerBinary, type RedisHandle, type RedisServerOptions, startRedisProcess, waitForRedis } from './redis-server.js';
