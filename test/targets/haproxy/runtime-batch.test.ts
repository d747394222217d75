import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { END_MARKER, runBatch, runtimeQuery, stripEndMarker } from '../../../src/targets/haproxy/runtime.js';

// A stand-in for a remote stats socket whose connection drops mid-batch: it records each command line it
// receives and answers with whatever the test scripted (a real HAProxy cannot be made to cut a reply short
// on cue). The replies are HAProxy 2.6's own bytes, recorded from `haproxy 2.6.12` over TCP.
const received: string[] = [];
let reply = (_line: string): string => '';
let server: Server;
let endpoint = '';

before(async () => {
  server = createServer((socket) => {
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString();
      if (!buf.includes('\n')) return;
      const line = buf.slice(0, buf.indexOf('\n'));
      received.push(line);
      socket.end(reply(line));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const batch = ['set server app_primary/pg1 state drain', 'set server app_primary/pg2 state ready'];

test('a batch whose connection closes before the last command ran is an error, not a silent success', async () => {
  received.length = 0;
  reply = () => '\n'; // the first command's (empty) reply, then the connection is gone
  await assert.rejects(
    runBatch(endpoint, batch, 1000),
    (err: Error & { code?: string }) =>
      err.code === 'SY_ERR_RUNTIME_API' &&
      /ended before the last command of the batch ran.*closed mid-batch/.test(err.message),
  );
  assert.equal(received.at(-1), `${batch.join(';')};${END_MARKER}`, 'the batch ends with the marker');
});

test('an empty reply (connection closed before any output) is a truncated batch', async () => {
  reply = () => '';
  await assert.rejects(runBatch(endpoint, batch, 1000), /ended before the last command/);
});

test('a complete batch (every command silent, then the version line) succeeds', async () => {
  reply = () => '\n\n2.6.12-1+deb12u4\n\n';
  await runBatch(endpoint, batch, 1000);
});

test('an error from one command of a complete batch is reported with HAProxy text', async () => {
  reply = () => '\nNo such server.\n\n2.6.12-1+deb12u4\n\n';
  await assert.rejects(
    runBatch(endpoint, batch, 1000),
    /refused a runtime command \(2 sent\): No such server\./,
  );
});

test('a query returns the output before the marker, and a cut-off read-back is an error', async () => {
  const state =
    '1\n# be_id be_name srv_id srv_name\n3 app_primary 1 pg1 127.0.0.1 2 0 1 1 7 6 3 4 6 0 0 0 - 5432 -\n\n';
  reply = () => `${state}3.0.11-1\n\n`;
  assert.equal(await runtimeQuery(endpoint, 'show servers state app_primary', 1000), state);
  reply = () => state.slice(0, 40);
  await assert.rejects(runtimeQuery(endpoint, 'show servers state app_primary', 1000), /ended before/);
});

test('stripEndMarker accepts only a reply whose last block is a version line', () => {
  assert.equal(stripEndMarker('\n2.6.12-1+deb12u4\n\n'), '\n');
  assert.equal(stripEndMarker('Pid: 7\n\n3.0.11\n\n'), 'Pid: 7\n\n');
  assert.equal(stripEndMarker('\n'), null);
  assert.equal(stripEndMarker('3 app_primary 1 pg1 127.0'), null);
  assert.equal(stripEndMarker('1\n# be_id\n'), null);
});
