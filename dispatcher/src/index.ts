export { BatchWriter } from './batch-writer.js';
export { type Batch, Batcher, type BatcherOptions } from './batcher.js';
export {
  Dispatcher,
  type DispatcherOptions,
  type DispatcherState,
  type StepDownReason,
} from './dispatcher.js';
export { createDispatcherMetrics, type DispatcherMetrics } from './metrics.js';
export { Reaper } from './reaper.js';
