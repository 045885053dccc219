import { createServer, type Server } from 'node:net';
import { freePort, portIsFree } from '@redispatch/shared/embedded';
import { describe, expect, it } from 'vitest';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('ports for a local cluster', () => {
  it('portIsFree tells a port another listener holds from a free one', async () => {
    const port = await freePort();
    const holder = await listen(port);
    expect(await portIsFree(port)).toBe(false);
    await new Promise((resolve) => holder.close(resolve));
    expect(await portIsFree(port)).toBe(true);
  });
});
