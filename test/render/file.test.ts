import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { renderFile, restoreBackup } from '../../src/render/index.js';
import { SwitchyardError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-render-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('writes a new file atomically with the requested mode and reports didRender', async () => {
  const path = join(dir, 'secret.ini');
  const result = await renderFile({ path, contents: 'a=1\n', mode: 0o600 });
  assert.deepEqual(
    { didRender: result.didRender, wouldRender: result.wouldRender, previous: result.previous },
    { didRender: true, wouldRender: true, previous: null },
  );
  assert.equal(readFileSync(path, 'utf8'), 'a=1\n');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no staged file left behind',
  );
});

test('identical contents cause no write', async () => {
  const path = join(dir, 'same.cfg');
  await renderFile({ path, contents: 'x\n' });
  const before = statSync(path).mtimeMs;
  const result = await renderFile({ path, contents: 'x\n', check: 'exit 1' });
  assert.equal(result.didRender, false);
  assert.equal(result.wouldRender, false);
  assert.equal(statSync(path).mtimeMs, before);
});

test('a failed check leaves the live file untouched and names the file', async () => {
  const path = join(dir, 'checked.cfg');
  writeFileSync(path, 'good\n');
  await assert.rejects(
    renderFile({ path, contents: 'bad\n', check: 'grep -q good {{file}}' }),
    (err: SwitchyardError) => {
      assert.equal(err.code, 'SY_ERR_RENDER_INVALID');
      assert.match(err.message, /checked\.cfg: staged file failed validation; kept the live file/);
      return true;
    },
  );
  assert.equal(readFileSync(path, 'utf8'), 'good\n');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('checked.cfg') && f.endsWith('.tmp')),
    [],
  );
});

test('the check command sees the staged file, quoted even with spaces in the path', async () => {
  const path = join(dir, 'with space.cfg');
  const result = await renderFile({ path, contents: 'valid\n', check: 'grep -q valid {{file}}' });
  assert.equal(result.didRender, true);
});

test('a check that hangs is killed at its timeout', async () => {
  const path = join(dir, 'slow.cfg');
  const started = Date.now();
  await assert.rejects(
    renderFile({ path, contents: 'x', check: 'sleep 5', checkTimeoutMs: 200 }),
    /timed out after 200 ms/,
  );
  assert.ok(Date.now() - started < 3000);
});

test('keeps a .bak of the previous file and restores it', async () => {
  const path = join(dir, 'rollback.cfg');
  await renderFile({ path, contents: 'v1\n' });
  await renderFile({ path, contents: 'v2\n' });
  assert.equal(readFileSync(`${path}.bak`, 'utf8'), 'v1\n');
  assert.equal(await restoreBackup(path), true);
  assert.equal(readFileSync(path, 'utf8'), 'v1\n');
});

test('dry run writes nothing but says whether it would', async () => {
  const path = join(dir, 'dry.cfg');
  const result = await renderFile({ path, contents: 'new' }, { dryRun: true });
  assert.equal(result.wouldRender, true);
  assert.equal(result.didRender, false);
  assert.throws(() => statSync(path));
});

test('the owner is set on the staged file, so the live file never has the wrong owner', async () => {
  const path = join(dir, 'owned.ini');
  const seen: Array<{ uid: number; gid: number }> = [];
  // The check runs on the staged file after the chown and before the rename: it sees the final owner.
  const check = `stat -c '%u %g' {{file}} > ${join(dir, 'owner-at-check')}`;
  await renderFile({ path, contents: 'a=1\n', mode: 0o600, owner: { uid: 4321, gid: 4322 }, check });
  const [uid, gid] = readFileSync(join(dir, 'owner-at-check'), 'utf8').trim().split(' ').map(Number);
  seen.push({ uid: uid as number, gid: gid as number });
  assert.deepEqual(seen, [{ uid: 4321, gid: 4322 }]);
  assert.equal(statSync(path).uid, 4321);
  assert.equal(statSync(path).gid, 4322);
  await renderFile({ path, contents: 'a=2\n', mode: 0o600, owner: { uid: 4321, gid: 4322 } });
  assert.equal(statSync(`${path}.bak`).uid, 4321, 'the backup keeps the owner for a rollback');
  assert.ok(await restoreBackup(path));
  assert.equal(readFileSync(path, 'utf8'), 'a=1\n');
  assert.equal(statSync(path).uid, 4321, 'a restored file keeps the owner');
});
