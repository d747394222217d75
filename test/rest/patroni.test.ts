import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PatroniRest, RestError, restAuthFrom, restBase } from '../../src/rest/patroni.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

const seen: Seen[] = [];
let server: Server;
let api: string;
const PASSWORD = 's3cret-Pa55';

async function bodyOf(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

before(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body,
      });
      if (req.url === '/slow') return; // never answers
      if (req.url === '/patroni') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ state: 'running', role: 'primary' }));
      } else if (req.url === '/switchover' && req.method === 'POST') {
        res.writeHead(412);
        res.end('candidate name does not match with sync_standby');
      } else if (req.url === '/text') {
        res.writeHead(200);
        res.end('not json');
      } else {
        res.writeHead(200);
        res.end('ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/patroni`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function rejection(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RestError, `expected a RestError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

/** Runs `body` with a client built from `options`, closed afterwards. */
async function withRest(
  options: ConstructorParameters<typeof PatroniRest>[0],
  body: (rest: PatroniRest) => Promise<void>,
): Promise<void> {
  const rest = new PatroniRest(options);
  try {
    await body(rest);
  } finally {
    await rest.close();
  }
}

test('the base URL is the member api_url without /patroni and without credentials', () => {
  assert.equal(restBase('http://10.0.0.1:8008/patroni'), 'http://10.0.0.1:8008');
  assert.equal(restBase('https://u:p@db1:8008/patroni/'), 'https://db1:8008');
  assert.equal(restBase('http://db1:8008'), 'http://db1:8008');
});

test('GET /patroni returns the parsed document and sends the basic auth header built from the options', async () => {
  await withRest({ auth: { username: 'admin', password: PASSWORD } }, async (rest) => {
    assert.deepEqual(await rest.patroni(api), { state: 'running', role: 'primary' });
    const last = seen.at(-1) as Seen;
    assert.equal(last.authorization, `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`);
  });
});

test('one request can send other credentials, or none, than the client holds', async () => {
  await withRest({ auth: { username: 'admin', password: PASSWORD } }, async (rest) => {
    await rest.request(api, 'POST', '/failsafe', { body: { name: 'pg1' }, auth: null });
    assert.equal((seen.at(-1) as Seen).authorization, undefined, 'auth: null sends no header');
    await rest.request(api, 'POST', '/failsafe', { auth: { username: 'peer', password: 'x' } });
    assert.equal((seen.at(-1) as Seen).authorization, `Basic ${Buffer.from('peer:x').toString('base64')}`);
    await rest.request(api, 'GET', '/health');
    assert.equal(
      (seen.at(-1) as Seen).authorization,
      `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`,
      'without the option the client credentials are sent',
    );
  });
});

test('without auth no authorization header is sent', async () => {
  await withRest({}, async (rest) => {
    await rest.patroni(api);
    assert.equal((seen.at(-1) as Seen).authorization, undefined);
  });
});

test('actions send their JSON body with the method and path Patroni expects', async () => {
  await withRest({}, async (rest) => {
    await rest.restart(api, { restart_pending: true });
    assert.deepEqual(seen.at(-1), {
      method: 'POST',
      url: '/restart',
      authorization: undefined,
      body: '{"restart_pending":true}',
    });
    await rest.patchConfig(api, { pause: null });
    assert.equal((seen.at(-1) as Seen).method, 'PATCH');
    assert.equal((seen.at(-1) as Seen).body, '{"pause":null}');
    await rest.cancelRestart(api);
    await rest.cancelSwitchover(api);
    assert.deepEqual(
      seen.slice(-2).map((s) => `${s.method} ${s.url}`),
      ['DELETE /restart', 'DELETE /switchover'],
    );
    await rest.reload(api);
    assert.equal(`${(seen.at(-1) as Seen).method} ${(seen.at(-1) as Seen).url}`, 'POST /reload');
  });
});

test('an answer of 400 or more is SY_ERR_REST_STATUS with the status and the body', async () => {
  await withRest({ auth: { username: 'admin', password: PASSWORD } }, async (rest) => {
    const err = await rejection(rest.switchover(api, { leader: 'pg1', candidate: 'pg9' }));
    assert.equal(err.code, 'SY_ERR_REST_STATUS');
    assert.equal(err.status, 412);
    assert.equal(err.body, 'candidate name does not match with sync_standby');
    assert.match(err.message, /POST http:\/\/127\.0\.0\.1:\d+\/switchover answered 412/);
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
    // `request` hands every status back instead.
    assert.equal((await rest.request(api, 'POST', '/switchover', { body: { leader: 'pg1' } })).status, 412);
  });
});

test('a body that is not JSON where JSON is expected is SY_ERR_REST_STATUS', async () => {
  await withRest({}, async (rest) => {
    const err = await rejection(rest.getJson(api, '/text'));
    assert.equal(err.code, 'SY_ERR_REST_STATUS');
  });
});

test('a member that does not answer within the deadline is SY_ERR_REST_TIMEOUT, close to the deadline', async () => {
  await withRest({ timeoutMs: 300, auth: { username: 'admin', password: PASSWORD } }, async (rest) => {
    const started = Date.now();
    const err = await rejection(rest.getJson(api, '/slow'));
    const took = Date.now() - started;
    assert.equal(err.code, 'SY_ERR_REST_TIMEOUT');
    assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
    assert.match(err.message, /no answer within 300 ms/);
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
  });
});

test('a per-call deadline overrides the client deadline', async () => {
  await withRest({ timeoutMs: 10_000 }, async (rest) => {
    const started = Date.now();
    assert.equal(
      (await rejection(rest.getJson(api, '/slow', { timeoutMs: 200 }))).code,
      'SY_ERR_REST_TIMEOUT',
    );
    assert.ok(Date.now() - started < 2000);
  });
});

test('a refused connection is SY_ERR_REST_UNREACHABLE and the message keeps no credentials from the URL', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  await withRest({ auth: { username: 'admin', password: PASSWORD } }, async (rest) => {
    const err = await rejection(rest.reload(`http://admin:${PASSWORD}@127.0.0.1:${port}/patroni`));
    assert.equal(err.code, 'SY_ERR_REST_UNREACHABLE');
    assert.match(err.message, /POST http:\/\/127\.0\.0\.1:\d+\/reload failed: .*ECONNREFUSED/);
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
  });
});

test('a cancelled call is SY_ERR_REST_UNREACHABLE (cancelled), not a timeout', async () => {
  await withRest({ timeoutMs: 5000 }, async (rest) => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const err = await rejection(rest.getJson(api, '/slow', { signal: abort.signal }));
    assert.equal(err.code, 'SY_ERR_REST_UNREACHABLE');
    assert.match(err.message, /cancelled/);
  });
});

test('an api_url that is not http(s) is refused before any request', async () => {
  await withRest({}, async (rest) => {
    await assert.rejects(rest.patroni('file:///etc/passwd'), { code: 'SY_ERR_DCS_VALUE_INVALID' });
  });
});

test('a health endpoint answers its status code, 503 included, without an error', async () => {
  await withRest({}, async (rest) => {
    assert.equal(await rest.health(api, '/primary'), 200);
    assert.equal(`${(seen.at(-1) as Seen).method} ${(seen.at(-1) as Seen).url}`, 'GET /primary');
  });
});

test('REST credentials come from a user and a password variable or file; an unreadable file is a config error', () => {
  process.env['SY_TEST_REST_PW'] = PASSWORD;
  assert.deepEqual(restAuthFrom({ username: 'admin', passwordEnv: 'SY_TEST_REST_PW' }), {
    username: 'admin',
    password: PASSWORD,
  });
  assert.equal(restAuthFrom({ passwordEnv: 'SY_TEST_REST_PW' }), undefined);
  assert.throws(() => restAuthFrom({ username: 'admin', passwordFile: '/nonexistent/pw' }), {
    code: 'SY_ERR_CONFIG_UNREADABLE',
  });
});
