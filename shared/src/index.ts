export {
  type DeadLetterFilter,
  type DeadLetterPage,
  type DeadLetterRef,
  type DeadLetterSelection,
  type DeadLetterStore,
  isEmptyFilter,
  type SelectedDeadLetters,
} from './admin/dead-letter-filter.js';
export {
  type DeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
} from './admin/dead-letters.js';
export {
  type FlowRequestOutcome,
  type FlowStatus,
  readFlow,
  requestFlow,
} from './admin/flow-control.js';
export { listsDeadLetterStore } from './admin/lists-dead-letter-store.js';
export {
  type OutboundDeadLetter,
  outboundDeadId,
  purgeOutboundDead,
  queryOutboundDead,
  selectOutboundDead,
} from './admin/outbound-dead-letters.js';
export {
  describeTiming,
  MIN_EVERY_MS,
  type MissedPolicy,
  nextDueAfter,
  parseScheduleSpec,
  type ScheduleSpec,
  type ScheduleTiming,
  scheduleTickId,
  validateScheduleName,
  validateTiming,
} from './admin/schedule-spec.js';
export { addSchedule, listSchedules, removeSchedule, type ScheduleEntry } from './admin/schedules.js';
export {
  type LeaderInfo,
  type PartitionStats,
  type Rates,
  readStats,
  type Stats,
  type Totals,
  type WorkerStats,
} from './admin/stats.js';
export {
  listStreamDeadLetters,
  purgeStreamDeadLetters,
  replayStreamDeadLetters,
} from './admin/stream-dead-letters.js';
export { readStreamStats } from './admin/stream-stats.js';
export { streamsDeadLetterStore } from './admin/streams-dead-letter-store.js';
export { oversizeReason, truncatedSize } from './admin/truncated-letters.js';
export * from './config/defaults.js';
export {
  ENCODED_SEPARATOR,
  type HttpAllowEntry,
  parseHttpAllowEntry,
  rawAuthority,
  rawPath,
} from './config/http-allow.js';
export { validateLibraryOptions } from './config/library-options.js';
export {
  type Config,
  type ConfigFlags,
  loadConfig,
  type SettingSource,
  settingDefault,
  settingSource,
} from './config/load-config.js';
export { defaultInstanceId, OPTIONS, type OptionKey, type OptionSpec } from './config/options.js';
export { parseRedisUrl, type RedisEndpoint, redactRedisUrl, type TlsSettings } from './config/redis-url.js';
export { tlsSettingsFrom } from './config/tls-settings.js';
export {
  DEPLOYMENT_FORMAT,
  type DeploymentMode,
  type DeploymentReading,
  type DeploymentStamp,
  readDeployment,
} from './deployment/deployment-stamp.js';
export { type JoinDeploymentOptions, joinDeployment } from './deployment/join-deployment.js';
export * from './envelope/index.js';
export * from './errors.js';
export {
  type CloseOutcome,
  type CloseStep,
  type CloseStepsOptions,
  runCloseSteps,
} from './lifecycle/close-steps.js';
export { createLogger, type Logger } from './logger.js';
export {
  type AnnouncerOptions,
  type DispatcherDetails,
  type DispatcherStatus,
  dispatchersFrom,
  ENDPOINT_REFRESH_MS,
  ENDPOINT_STALE_REFRESHES,
  type EndpointAnnouncement,
  EndpointAnnouncer,
  type ProcessEndpoint,
} from './observability/endpoint-directory.js';
export { capConnections, HARDENED_SERVER_OPTIONS } from './observability/harden-http-server.js';
export {
  createRegistry,
  MetricsServer,
  type MetricsServerOptions,
  type Readiness,
} from './observability/metrics-server.js';
export * from './outbound/index.js';
export * as scripts from './redis/calls/index.js';
export {
  type ConnectionRole,
  type ConnectionSettings,
  closeQuietly,
  connectOrThrow,
  createConnection,
} from './redis/connection.js';
export {
  calculateSlot,
  createDataConnection,
  type DataClient,
  type DataConnectionSettings,
  dataSetting,
  dataTarget,
  isCluster,
  masterOf,
  publishingNode,
  waitForReplicas,
} from './redis/data-connection.js';
export { createKeys, type Keys } from './redis/keys.js';
export {
  assertNotFenced,
  type ScriptCallContext,
  ScriptCode,
  scriptCodeOf,
  throwOnScriptCode,
} from './redis/script-code.js';
export { defineScripts } from './redis/scripts.js';
export { redisTimeMs, timeReplyMs } from './redis/server-time.js';
export {
  ACL_ROLES,
  type AclMode,
  type AclOptions,
  type AclRole,
  aclFileLine,
  aclPasswordHash,
  aclRules,
  aclSetUserArgs,
  aclUserName,
} from './security/acl.js';
export { SERVER_USERS, type ServerUserPasswords, serverUserLines } from './security/acl-server-users.js';
export { type PartitionKeys, partitionKeys } from './streams/partition-keys.js';
export { type LoadPartitionsOptions, loadPartitions, planPartitionTags } from './streams/partition-table.js';
export * from './tracing/index.js';
