/** Library options for `isolate` (the CLI's --isolate, --isolate-pool, --isolate-max-memory-mb). */
export interface IsolateOptions {
  /** Handler module (path or package name) each child loads: the same contract as --handler. */
  module: string;
  /** Child processes. Each runs ceil(concurrency / poolSize) messages at once. @default concurrency */
  poolSize?: number;
  /** V8 heap limit per child (--max-old-space-size), MB; resident memory is capped at this + 128. @default 512 */
  maxMemoryMb?: number;
}

export const DEFAULT_ISOLATE_MAX_MEMORY_MB = 512;
