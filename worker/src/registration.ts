import { type Keys, scripts } from '@redispatch/shared';

/**
 * A worker's entry in the worker registry, the same in both modes: the heartbeat (re)registers it on
 * the server's clock; leaving marks it dead at once so the leader reassigns what it held.
 */
export class Registration {
  constructor(
    private readonly client: scripts.ScriptClient,
    private readonly keys: Pick<Keys, 'workers'>,
    private readonly workerId: string,
  ) {}

  /** Resolves to false when the worker had been declared dead and has just re-joined. */
  beat(): Promise<boolean> {
    return scripts.heartbeat(
      this.client,
      { registry: this.keys.workers },
      { member: this.workerId, action: 'beat' },
    );
  }

  async leave(): Promise<void> {
    await scripts.heartbeat(
      this.client,
      { registry: this.keys.workers },
      { member: this.workerId, action: 'leave' },
    );
  }
}
