/**
 * Typed errors shared by every redispatch process. Callers branch on the class (or on `name`),
 * never on message text: *contended* (someone else leads) is kept apart from *unavailable*
 * (we could not reach a quorum) and from *lost* (we led and no longer do).
 */

/** One or more settings are invalid; `problems` lists every one, each naming its setting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(problems.join('; '), options);
  }
}

/** Another dispatcher holds the leader lease. */
export class LeaseContendedError extends Error {
  override readonly name = 'LeaseContendedError';
}

/** Not enough lock masters answered to form a quorum. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** The lease could not be renewed before it ran out; this process no longer leads. */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

/** A write carried an epoch older than the store's: a newer leader exists. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    readonly staleEpoch: number,
    options?: ErrorOptions,
  ) {
    super(`write fenced: epoch ${staleEpoch} is stale`, options);
  }
}

/** A worker's call found it missing from the registry: it was declared dead and must re-register. */
export class WorkerNotRegisteredError extends Error {
  override readonly name = 'WorkerNotRegisteredError';
  constructor(
    readonly workerId: string,
    options?: ErrorOptions,
  ) {
    super(`worker ${workerId} is not registered (declared dead); it must re-register`, options);
  }
}

/** A handler module could not be loaded or does not export a function. */
export class HandlerLoadError extends Error {
  override readonly name = 'HandlerLoadError';
}

/** A handler did not settle before its ack deadline. */
export class HandlerTimeoutError extends Error {
  override readonly name = 'HandlerTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`handler did not finish within ${timeoutMs} ms`);
  }
}

/** A message was rejected before routing (oversize, malformed header); it is dead-lettered with this reason. */
export class RejectedMessageError extends Error {
  override readonly name = 'RejectedMessageError';
}

/** `msg.reply()` was called after the handler had settled (acked, nacked or timed out): it cannot be sent. */
export class ReplyAfterSettleError extends Error {
  override readonly name = 'ReplyAfterSettleError';
  constructor(readonly messageId: string) {
    super(`message ${messageId}: reply() after the handler settled; replies are written with the ack`);
  }
}

/** Fewer replicas than REDISPATCH_WAIT_REPLICAS acknowledged a batch in time; the batch is retried. */
export class ReplicaWaitError extends Error {
  override readonly name = 'ReplicaWaitError';
  constructor(
    readonly key: string,
    readonly acknowledged: number,
    readonly wanted: number,
  ) {
    super(`${acknowledged} of ${wanted} replicas acknowledged the write to ${key} in time`);
  }
}
