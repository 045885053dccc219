export { type HandlerProcessEnd, HandlerProcessError, UnrecoverableError } from './errors.js';
export type { HandlerRunner } from './handler-runner.js';
export { DEFAULT_ISOLATE_MAX_MEMORY_MB, type IsolateOptions } from './isolate/isolate-options.js';
export { loadHandler } from './load-handler.js';
export type { Handler, Message } from './message.js';
export {
  createIsolateMetrics,
  createWorkerMetrics,
  type IsolateMetrics,
  type WorkerMetrics,
} from './metrics.js';
export { Worker, type WorkerOptions, type WorkerState } from './worker.js';
export { isolateOptionsFrom, workerOptionsFrom } from './worker-options.js';
