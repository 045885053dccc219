import {
  type DataClient,
  type DispatcherPresence,
  type Keys,
  type Logger,
  removePresence,
  writePresence,
} from '@redispatch/shared';

/** Longest a stopping dispatcher waits to remove its record. */
const REMOVE_WAIT_MS = 500;

/**
 * Keeps this dispatcher's presence record (role, caught up, buffered) fresh for `stats`: one
 * pipelined SET PX + ZADD per beat, so standbys are visible too. A beat still in flight when the
 * next one is due is not doubled; a failed beat is only logged (the record expires by itself).
 */
export class PresenceBeat {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly beatMs: number,
    private readonly snapshot: () => DispatcherPresence,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.beat();
    this.timer = setInterval(() => this.beat(), this.beatMs);
    this.timer.unref();
  }

  /**
   * Stops beating and removes the record, so a clean stop leaves `stats` at once. Best effort and
   * bounded by REMOVE_WAIT_MS: with Redis unreachable the record simply expires.
   */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    const removal = (async () => {
      await this.inFlight;
      await removePresence(this.client, this.keys, this.snapshot().id);
    })().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REMOVE_WAIT_MS);
    });
    await Promise.race([removal, cap]);
    clearTimeout(timer);
  }

  private beat(): void {
    if (this.inFlight !== undefined) return;
    this.inFlight = writePresence(this.client, this.keys, this.snapshot(), this.beatMs)
      .catch((error: unknown) => this.log.debug({ err: error }, 'presence beat failed; the record expires'))
      .finally(() => {
        this.inFlight = undefined;
      });
  }
}
