import { createServer } from 'node:net';

/** Ports this process has already handed out; never handed out twice, so parallel callers in one process don't collide. */
const handedOut = new Set<number>();

/** Binds port 0 on 127.0.0.1, closes the socket and returns the port the kernel chose. */
function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('freePort: no port from listen(0)'))));
    });
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago and that this process has not returned before.
 * Limit: another process may still take it between this call and your bind (small race, as with any port-0 trick).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindEphemeral();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: 50 attempts returned only ports already handed out');
}

/** Returns `n` distinct free ports (see {@link freePort}). */
export async function freePorts(n: number): Promise<number[]> {
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`freePorts: expected a non-negative integer, got ${String(n)}`);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
