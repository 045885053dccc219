import type { Logger } from '@redispatch/shared';

/**
 * The worker's heartbeat: one beat every `intervalMs` while `active()` says so (running and through
 * the drain), each scheduled after the last one returned.
 */
export class HeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly beat: () => Promise<boolean>,
    private readonly intervalMs: number,
    private readonly active: () => boolean,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setTimeout(async () => {
      if (!this.active()) return;
      try {
        const known = await this.beat();
        if (!known)
          this.log.warn(
            're-registered: the leader had declared this worker dead (its claims were redelivered)',
          );
      } catch (error) {
        this.log.warn({ err: error }, 'heartbeat failed');
      }
      if (this.active()) this.start();
    }, this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
