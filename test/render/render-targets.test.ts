import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { renderTargets } from '../../src/cli/render.js';
import type { RenderableTarget, RouteSnapshot, Target } from '../../src/targets/types.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-render-targets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const snapshot: RouteSnapshot = {
  generation: 1,
  views: new Map(),
  dcs: { isConnected: true, lastContactAt: 0 },
};

/** A target that records every life-cycle call; `files` makes it renderable. */
function recordingTarget(name: string, calls: string[], files?: Array<{ path: string; contents: string }>) {
  const target: Target = {
    kind: name,
    name,
    start: async () => void calls.push(`${name}.start`),
    apply: async () => {
      calls.push(`${name}.apply`);
      return { generation: 1, summary: '', didChange: false };
    },
    close: async () => void calls.push(`${name}.close`),
    detach: async () => void calls.push(`${name}.detach`),
  };
  if (!files) return target;
  return { ...target, preview: async () => files } satisfies RenderableTarget;
}

test('render writes the files of renderable targets and never starts, applies or closes any target', async () => {
  const calls: string[] = [];
  const path = join(dir, 'a.cfg');
  const targets = [
    recordingTarget('vip', calls),
    recordingTarget('haproxy', calls, [{ path, contents: 'x\n' }]),
  ];
  const lines: string[] = [];
  const options = {
    isDiff: false,
    checkOf: () => undefined,
    stdout: () => {},
    stderr: (t: string) => void lines.push(t),
  };
  assert.equal(await renderTargets(targets, snapshot, { ...options, isDryRun: true }), true);
  assert.equal(existsSync(path), false, 'a dry run writes nothing');
  assert.equal(await renderTargets(targets, snapshot, { ...options, isDryRun: false }), true);
  assert.equal(readFileSync(path, 'utf8'), 'x\n');
  assert.equal(await renderTargets(targets, snapshot, { ...options, isDryRun: true }), false);
  assert.deepEqual(lines, [`${path}: would change\n`, `${path}: written\n`, `${path}: unchanged\n`]);
  assert.deepEqual(calls, [], 'no life-cycle call: render only previews');
});
