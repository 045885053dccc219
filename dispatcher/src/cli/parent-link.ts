/**
 * A process started by `redispatch up` has an IPC channel to it (and only then). When `up` is gone —
 * SIGKILLed, crashed, its terminal closed — nothing of it runs to stop its children, so each child
 * watches the channel itself: the kernel closes it when the parent dies, whatever killed it.
 * Returns false when there is no parent to watch (run by hand, by systemd, in a container).
 */
export function onParentGone(stop: () => void): boolean {
  const channel = process.channel;
  if (!channel) return false;
  process.once('disconnect', stop);
  // Watching must not keep the process alive on its own (adding the listener ref'd the channel).
  channel.unref();
  return true;
}
