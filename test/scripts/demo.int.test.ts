// The README's first command: `npm start` brings the demo up, a switchover typed on standard input
// moves the leader and every target routes to it, and `q` stops everything it started.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../harness/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the demo starts, switches over on "s" with every target routed, and stops on "q"', async () => {
  const child = spawn(process.execPath, ['scripts/demo.mjs'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    await waitFor(() => out.includes('Ready in'), {
      what: 'demo ready',
      timeoutMs: 300_000,
      diagnose: () => out.slice(-2000),
    });
    child.stdin.write('s\n');
    const line = await waitFor(() => out.match(/^>> switchover (\S+) → (\S+), after the key press: (.*)$/m), {
      what: 'switchover reported with every target routed',
      timeoutMs: 120_000,
      diagnose: () => out.slice(-2000),
    });
    const [, from, to, steps] = line;
    assert.notEqual(to, '?', `no new leader in: ${line[0]}`);
    assert.notEqual(to, from);
    assert.match(steps ?? '', /leader key moved \d+ ms/);
    assert.match(steps ?? '', /writable \d+ ms/);
    assert.match(steps ?? '', /haproxy routed \d+ ms/);
    assert.match(steps ?? '', /pgbouncer routed \d+ ms/);
    child.stdin.write('q\n');
    const [code] = await exited;
    assert.equal(code, 0, out.slice(-2000));
    assert.match(out, /stopped; data and logs removed\./);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // the demo's handler stops everything it started, by pid
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
  }
});
