import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RawArpSender } from '../../../src/targets/vip/rawsender.js';

/** A stand-in for python3: says ready, then answers each line with `reply` (or never, when null). */
function fakeHelper(reply: string | null): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sy-fake-helper-'));
  const path = join(dir, 'python3');
  const body =
    reply === null
      ? 'echo "ready 02:00:00:00:00:01"; exec sleep 30'
      : `echo "ready 02:00:00:00:00:01"; while read -r line; do echo "${reply}"; done`;
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the helper answers a probe, and an rtnetlink add or del with the kernel errno', async () => {
  const free = fakeHelper('free');
  const sender = new RawArpSender('eth0', free.path, 2000);
  try {
    assert.deepEqual(await sender.probe('10.0.0.100', 10), { isInUse: false, otherMac: null });
    assert.equal(sender.mac, '02:00:00:00:00:01');
  } finally {
    sender.close();
    free.cleanup();
  }
  const errno = fakeHelper('errno 17');
  const adder = new RawArpSender('eth0', errno.path, 2000);
  try {
    assert.equal(await adder.address('add', '10.0.0.100', 24), 17);
  } finally {
    adder.close();
    errno.cleanup();
  }
});

test('a helper that stops answering is killed after the deadline, and the call fails instead of hanging', async () => {
  const mute = fakeHelper(null);
  const sender = new RawArpSender('eth0', mute.path, 200);
  try {
    await sender.start();
    const started = Date.now();
    await assert.rejects(sender.address('del', '10.0.0.100', 24), /no answer in 200 ms/);
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
    await assert.rejects(sender.probe('10.0.0.100', 10), /no answer|not running|helper/);
  } finally {
    sender.close();
    mute.cleanup();
  }
});
