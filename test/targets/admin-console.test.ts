import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { AdminConnection, type AdminEndpoint } from '../../src/targets/admin-console.js';
import { resolvePgcatOptions } from '../../src/targets/pgcat/index.js';
import { PgcatConfigSchema } from '../../src/targets/pgcat/config.js';

/** A local port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const endpoint = (port: number, extra: Partial<AdminEndpoint> = {}): AdminEndpoint => ({
  host: '127.0.0.1',
  port,
  user: 'admin',
  connectTimeoutMs: 1000,
  commandTimeoutMs: 1000,
  ...extra,
});

test('a console that does not answer is a connect error naming the pooler, its address and the user', async () => {
  const port = await closedPort();
  await assert.rejects(AdminConnection.open(endpoint(port)), (err: Error & { command?: string }) => {
    assert.equal(err.command, 'connect');
    assert.match(
      err.message,
      new RegExp(`^cannot connect to the PgBouncer admin console at 127\\.0\\.0\\.1:${port} as admin: `),
    );
    return true;
  });
});

test("pgcat's console errors name pgcat, not PgBouncer", async () => {
  const config = PgcatConfigSchema.parse({
    output: 'pgcat.toml',
    general: { admin: { username: 'pgcat', password: 'pw' } },
    pools: { app: { cluster: 'demo', users: [{ username: 'app' }] } },
    console: { port: await closedPort() },
  });
  const { console } = resolvePgcatOptions(config, '/tmp');
  await assert.rejects(AdminConnection.open(console), {
    message: /^cannot connect to the pgcat admin console at 127\.0\.0\.1:\d+ as pgcat: /,
  });
});
