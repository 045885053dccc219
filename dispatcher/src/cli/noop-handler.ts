/** A handler that does nothing: measures redispatch's own overhead (`redispatch up --handler noop`). */
export default function noopHandler(): void {}
