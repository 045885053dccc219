import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

// ioredis does not export its standalone connector from the package root; this is the class its own
// Redis uses when no Connector is given (ioredis 5: built/connectors/StandaloneConnector.js). Required,
// not imported: a CommonJS default export reads the same under Node and under the test runner.
const require = createRequire(import.meta.url);
const { default: StandaloneConnector } =
  require('ioredis/built/connectors/StandaloneConnector.js') as typeof import('ioredis/built/connectors/StandaloneConnector.js');

/**
 * ioredis's connector with one listener added: ioredis listens for a socket's 'error' with `once` (its
 * connector and its event handler both), so a socket that fails twice crashes the process with an
 * unhandled 'error' event. A TLS socket does: a server that refuses the client after the handshake
 * sends an alert (emitted as an error while the socket stays open, TLS 1.3 having finished the
 * handshake on the client's side), then resets the connection (ECONNRESET, a second error). The first
 * error reaches ioredis as before and the close still ends the connection; a later one of the same
 * socket has nothing left to tell and is dropped here.
 */
export class ListenedConnector extends StandaloneConnector {
  // ioredis hands a Connector its options untyped (ConnectorConstructor takes `unknown`).
  constructor(options: unknown) {
    super(options as ConstructorParameters<typeof StandaloneConnector>[0]);
  }

  override async connect(...args: Parameters<InstanceType<typeof StandaloneConnector>['connect']>) {
    const stream = await super.connect(...args);
    (stream as Socket).on('error', () => {});
    return stream;
  }
}
