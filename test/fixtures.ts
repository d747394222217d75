import { readFileSync } from 'node:fs';
import type { RawKey } from '../src/cluster/index.js';

/** Recorded fixtures live in the repository (test/fixtures/), so a clone alone runs the unit tests. */
const fixturesDir = new URL('./fixtures/', import.meta.url);

/** Absolute path of a file in test/fixtures/. */
export function fixturePath(name: string): string {
  return new URL(name, fixturesDir).pathname;
}

/** Text of a file in test/fixtures/. */
export function readFixture(name: string): string {
  return readFileSync(new URL(name, fixturesDir), 'utf8');
}

interface RecordedKey {
  value: string;
  lease: boolean;
  create_revision: number;
  mod_revision: number;
}

/** Every key a real Patroni 3.0.2 cluster had (scope `lab`), as RawKey relative to the scope prefix. */
export function patroni302Keys(): RawKey[] {
  const recorded = JSON.parse(readFixture('patroni-3.0.2-keys.json')) as {
    keys: Record<string, RecordedKey>;
  };
  return Object.entries(recorded.keys).map(([key, k]) => ({
    key: key.replace('/service/lab/', ''),
    value: k.value,
    modRevision: k.mod_revision,
    lease: k.lease ? '7587870000000001' : '0',
  }));
}

/** A member value as Patroni 4.1 writes it (reference: patroni.md §1.3). */
export function member4x(options: {
  port: number;
  apiPort: number;
  role?: string;
  state?: string;
  xlog?: number;
  tags?: Record<string, unknown>;
  host?: string;
}): string {
  const host = options.host ?? '127.0.0.1';
  return JSON.stringify({
    conn_url: `postgres://${host}:${options.port}/postgres`,
    api_url: `http://${host}:${options.apiPort}/patroni`,
    state: options.state ?? 'running',
    role: options.role ?? 'replica',
    version: '4.1.4',
    ...(options.tags ? { tags: options.tags } : {}),
    xlog_location: options.xlog ?? 67395656,
    ...(options.role === 'replica' || options.role === undefined
      ? {
          replay_lsn: options.xlog ?? 67395656,
          receive_lsn: options.xlog ?? 67395656,
          replication_state: 'streaming',
        }
      : {}),
    timeline: 3,
  });
}

export function raw(key: string, value: string, modRevision = 10, lease = '0'): RawKey {
  return { key, value, modRevision, lease };
}
