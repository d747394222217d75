import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PgQuery } from '../../../agent/postgres/query.js';
import { parseAgentConfig } from '../../../agent/config/load.js';

// A server speaking just enough of the PostgreSQL wire protocol to accept a login, then dropping the
// connection when a query arrives: what the agent sees when PostgreSQL stops under a running status query.
const sockets = new Set<Socket>();
let queries = 0;
const server = createServer((socket) => {
  sockets.add(socket);
  let started = false;
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    if (!started) {
      started = true;
      const authOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      socket.write(Buffer.concat([authOk, ready]));
      return;
    }
    if (chunk[0] === 0x51) {
      queries += 1;
      socket.destroy();
    }
  });
});
await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
const port = (server.address() as AddressInfo).port;
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

const { config } = parseAgentConfig(
  `scope: s\nname: n1\nrestapi: {listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008, allow_unauthenticated_writes: true}\netcd3: {hosts: 127.0.0.1:2379}\npostgresql: {listen: 127.0.0.1:${port}, connect_address: 127.0.0.1:${port}, data_dir: /nonexistent, authentication: {superuser: {username: a, password: p}, replication: {username: b}}}\n`,
  'node.yml',
);

test('PostgreSQL dropping the connection under a status query fails that query and is never an uncaught exception', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  const q = new PgQuery(config);
  try {
    await assert.rejects(q.status(), /Connection terminated unexpectedly/);
    await assert.rejects(q.status(), /Connection terminated unexpectedly/);
    // Let any late 'error' emission surface.
    await new Promise((res) => setTimeout(res, 100));
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
    await q.close();
  }
  assert.equal(queries, 2, 'both status calls reached the server (the broken client was not reused)');
  assert.deepEqual(uncaught.map(String), []);
});
