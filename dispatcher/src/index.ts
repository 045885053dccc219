export {
  Dispatcher,
  type DispatcherOptions,
  type DispatcherState,
  type StepDownReason,
} from './dispatcher.js';
export { createDispatcherMetrics, type DispatcherMetrics } from './metrics.js';
export { HttpDeliverer, type HttpDelivererOptions } from './relay/http-deliverer.js';
export { ListOutboundQueue, type OutboundQueue, type Taken } from './relay/outbound-queue.js';
export { Relay, type RelayOptions, type RelayState } from './relay/relay.js';
export { SESSION_HEADER } from './relay/socket-gateway.js';
export { type Batch, Batcher, type BatcherOptions } from './routing/batcher.js';
export { BatchWriter } from './routing/lists/batch-writer.js';
export { Reaper } from './routing/lists/reaper.js';
