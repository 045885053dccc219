/**
 * A process started by `redispatch up` has an IPC channel to it (and only then). When `up` is gone —
 * SIGKILLed, crashed, its terminal closed — nothing of it runs to stop its children, so each child
 * watches the channel itself: the kernel closes it when the parent dies, whatever killed it.
 * Returns false when there is no parent to watch (run by hand, by systemd, in a container).
 */
export function onParentGone(stop: () => void): boolean {
  // `process.send` exists for the whole life of a process started with an IPC channel, even after
  // the channel closed (`process.channel` is then gone): the parent may have died while this one
  // was still starting, and the 'disconnect' event is then already past.
  if (typeof process.send !== 'function') return false;
  if (!process.connected) {
    setImmediate(stop);
    return true;
  }
  process.once('disconnect', stop);
  // Watching must not keep the process alive on its own (adding the listener ref'd the channel).
  process.channel?.unref();
  return true;
}
