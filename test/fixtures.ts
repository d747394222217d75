import { readFileSync } from 'node:fs';
import type { RawKey } from '../src/cluster/index.js';
import type { RouterStatus } from '../src/router/router.js';

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

/**
 * Every key of one scope of the real Patroni 4.0.7 recording (scope `lab4`: 3 nodes, quorum mode, after
 * one switchover; scope `standby4`: a standby cluster led by a `standby_leader`), as RawKey.
 */
export function patroni407Keys(scope: 'lab4' | 'standby4'): RawKey[] {
  const recorded = JSON.parse(readFixture('patroni-4.0.7-keys.json')) as {
    keys: Record<string, RecordedKey>;
  };
  const prefix = `/service/${scope}/`;
  return Object.entries(recorded.keys)
    .filter(([key]) => key.startsWith(prefix))
    .map(([key, k]) => ({
      key: key.slice(prefix.length),
      value: k.value,
      modRevision: k.mod_revision,
      lease: k.lease ? '7587870000000001' : '0',
    }));
}

/** The recorded Patroni 4.0.7 REST answers: `{ leader|replica|standby_leader: { 'GET /path': { status, body } } }`. */
export function patroni407Rest(): Record<string, Record<string, { status: number; body: unknown }>> {
  return JSON.parse(readFixture('patroni-4.0.7-rest.json')) as Record<
    string,
    Record<string, { status: number; body: unknown }>
  >;
}

/** Which member the 4.0.7 recording names as leader, replica and standby leader. */
export function patroni407Names(): { leader: string; replica: string; standby_leader: string } {
  return JSON.parse(readFixture('patroni-4.0.7-keys.json')) as {
    leader: string;
    replica: string;
    standby_leader: string;
  };
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

/** A `/status` timeline entry: app's leader key moved from pg1 to pg2, applied by HAProxy (the only target). */
export function appLeaderChange(
  keyChangedAt: string,
  writableMs: number,
  appliedMs: number,
): RouterStatus['timeline'][number] {
  return {
    cluster: 'app',
    from: 'pg1',
    to: 'pg2',
    key_changed_at: keyChangedAt,
    writable_ms: writableMs,
    applied_ms: { haproxy: appliedMs },
    all_applied_ms: appliedMs,
    lost_ms: null,
  };
}
