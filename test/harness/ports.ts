import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStartTime } from './pids.js';

/**
 * Ports handed out are also claimed in `<tmpdir>/switchyard-ports/<port>` (owner pid + start time),
 * so concurrent test processes on this machine never get the same port from the harness. A claim
 * whose owner is gone is taken over; this process's claims are removed when it exits.
 */
const claimDir = join(tmpdir(), 'switchyard-ports');
const claimed = new Set<number>();
const ownStartTime = procStartTime(process.pid) ?? '';
let exitHookInstalled = false;

function claim(port: number): boolean {
  if (claimed.has(port)) return false;
  mkdirSync(claimDir, { recursive: true, mode: 0o755 });
  const path = join(claimDir, String(port));
  const stamp = `${process.pid} ${ownStartTime}`;
  try {
    writeFileSync(path, stamp, { flag: 'wx' });
  } catch {
    let owner: string[];
    try {
      owner = readFileSync(path, 'utf8').split(' ');
    } catch {
      return false;
    }
    const [pid, startTime] = owner;
    if (pid !== undefined && startTime !== undefined && procStartTime(Number(pid)) === startTime)
      return false;
    writeFileSync(path, stamp); // stale claim of a dead process
  }
  claimed.add(port);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of claimed) rmSync(join(claimDir, String(p)), { force: true });
    });
  }
  return true;
}

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
 * Returns a TCP port on 127.0.0.1 that was free a moment ago and that no harness user on this machine
 * holds (see the claim files above). Limit: a process outside the harness may still take it between
 * this call and your bind (the usual port-0 race).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await bindEphemeral();
    if (claim(port)) return port;
  }
  throw new Error('freePort: 100 attempts returned only ports already claimed');
}

/** Returns `n` distinct free ports (see {@link freePort}). */
export async function freePorts(n: number): Promise<number[]> {
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`freePorts: expected a non-negative integer, got ${String(n)}`);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
