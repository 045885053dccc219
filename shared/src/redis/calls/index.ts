/**
 * One typed wrapper per Lua script (shared/src/redis/lua): keys by name from the key builders, ARGV
 * as a named object, the reply decoded, domain codes turned into typed errors (script-code.ts). The
 * KEYS and ARGV order is spelled here and in the script's header, nowhere else.
 */
export * from './dead-letter-calls.js';
export * from './delayed-calls.js';
export * from './extend-calls.js';
export * from './flow-calls.js';
export * from './key-limit-calls.js';
export * from './leadership-calls.js';
export * from './lists-leader-calls.js';
export * from './lists-worker-calls.js';
export * from './outbound-calls.js';
export * from './schedule-calls.js';
export type { ScriptClient } from './script-client.js';
export * from './stream-leader-calls.js';
export * from './stream-worker-calls.js';
