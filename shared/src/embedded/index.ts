// Local Redis servers as child processes: what `redispatch up` runs when no Redis is configured.
// The test harness (@redispatch/testing, dev only) builds on these.
export { freePort, portIsFree } from './free-port.js';
export {
  type ClusterNode,
  type ClusterTls,
  type NodeAuth,
  type RedisCluster,
  type RedisClusterOptions,
  type SlotsReply,
  startRedisCluster,
  withNode,
} from './redis-cluster.js';
export {
  hasRedisServerBinary,
  type RedisProcess,
  type RedisServerOptions,
  startRedisProcess,
  waitForRedis,
} from './redis-server.js';
