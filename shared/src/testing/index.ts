export { makeSelfSignedCert, makeTestPki, requireOpenssl, type TestPki } from './certs.js';
export { freePort } from './free-port.js';
export { type NatsHandle, type NatsServerOptions, startNatsServer } from './nats-server.js';
export {
  type ClusterNodeHandle,
  type ClusterTls,
  type NodeAuth,
  type RedisClusterHandle,
  type RedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js';
// redis-container.ts loads testcontainers only inside startRedisContainer (a dynamic import), so this
// re-export costs nothing for the process backend; start-redis.ts still imports it lazily.
export { LOCAL_REDIS_IMAGE, REDIS_CONTAINER_LABEL, startRedisContainer } from './redis-container.js';
export {
  hasRedisServerBinary,
  type RedisHandle,
  type RedisServerOptions,
  startRedisProcess,
  waitForRedis,
} from './redis-server.js';
export { startRedis } from './start-redis.js';
