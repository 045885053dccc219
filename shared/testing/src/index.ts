// The launchers `redispatch up` uses in production, re-exported so tests need one import.
export {
  type ClusterTls,
  freePort,
  hasRedisServerBinary,
  type NodeAuth,
  type RedisClusterOptions,
  type RedisServerOptions,
  waitForRedis,
} from '@redispatch/shared/embedded';
export { makeSelfSignedCert, makeTestPki, requireOpenssl, type TestPki } from './certs.js';
export { type NatsHandle, type NatsServerOptions, startNatsServer } from './nats-server.js';
export { type ClusterNodeHandle, type RedisClusterHandle, startRedisCluster } from './redis-cluster.js';
// redis-container.ts loads testcontainers only inside startRedisContainer (a dynamic import), so this
// re-export costs nothing for the process backend; start-redis.ts still imports it lazily.
export { LOCAL_REDIS_IMAGE, REDIS_CONTAINER_LABEL, startRedisContainer } from './redis-container.js';
export { type RedisHandle, startRedisProcess } from './redis-server.js';
export { startRedis } from './start-redis.js';
