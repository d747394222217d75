import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Etcd3 } from 'etcd3';
import type { ClusterWriter } from '../src/dcs/cluster-writer.js';
import { monotonicMs, type AgentLease } from '../src/dcs/lease.js';
import type { Logger } from '../src/log.js';
import type { Leadership } from './leadership/leadership.js';
import { stopForHandover } from './leadership/handover.js';
import type { Timing } from './leadership/timing.js';
import { within } from './loop.js';
import type { PgControl } from './postgres/control.js';
import type { FencingWatchdog } from './watchdog.js';

export interface ShutdownDeps {
  readonly name: string;
  readonly timing: Timing;
  /** One etcd request's bound (ms). */
  readonly requestMs: number;
  /** The HA cycle still running, if any. */
  readonly running: Promise<void> | null;
  readonly hadLock: boolean;
  readonly isPaused: boolean;
  readonly leadership: Leadership;
  readonly control: PgControl;
  /** Drops the agent's own PostgreSQL connections before the stop. */
  readonly dropConnections: () => Promise<void>;
  readonly watchdog: FencingWatchdog;
  readonly writer: ClusterWriter | undefined;
  readonly lease: AgentLease | undefined;
  /** Closed in order at the end, each bounded by one request timeout. */
  readonly closers: readonly (() => Promise<unknown> | undefined)[];
  readonly client: Etcd3 | undefined;
  readonly log: Logger;
}

/** Closes an HTTP(S) server and its open connections. */
export function closeServer(server: Server | HttpsServer | null): Promise<void> | undefined {
  if (!server) return undefined;
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  return closed;
}

/**
 * Graceful stop (SIGTERM), bounded even when etcd is gone: wait ≤ retry_timeout for the running cycle, stop
 * PostgreSQL (unless paused or `leavePostgres`; fast, waited for by its pid file, then immediate), then
 * release the leader key and revoke the lease (each ≤ one etcd request timeout) so the member key
 * disappears at once.
 */
export async function shutdownAgent(d: ShutdownDeps, options: { leavePostgres?: boolean }): Promise<void> {
  const startedAt = monotonicMs();
  const request = d.requestMs;
  await within(
    d.running?.catch(() => undefined),
    d.timing.retryTimeout * 1000,
  );
  d.leadership.stop();
  try {
    if (!d.isPaused && !options.leavePostgres) {
      await within(d.dropConnections(), request);
      await stopForHandover(d.control, d.timing.retryTimeout * 1000);
      d.watchdog.stop();
      if (d.hadLock && d.writer)
        await within(
          d.writer.releaseLeader(d.name).catch(() => false),
          request,
        );
      await within(
        d.lease?.revoke().catch(() => undefined),
        request,
      );
    } else {
      d.watchdog.stop();
    }
  } finally {
    for (const close of d.closers) await within(close(), request);
    d.client?.close();
    // The process exits when its caller returns; what still runs then (late etcd retries) is named here.
    d.log.info({ ms: monotonicMs() - startedAt, active: process.getActiveResourcesInfo() }, 'agent stopped');
  }
}
