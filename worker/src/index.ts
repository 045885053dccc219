export { loadHandler } from './load-handler.js';
export type { Handler, Message } from './message.js';
export { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
export { Worker, type WorkerOptions, type WorkerState } from './worker.js';
