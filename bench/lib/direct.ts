import { parseServersState } from '../../src/targets/haproxy/runtime.js';
import { haproxyCommand } from '../../test/harness/index.js';
import { ReconnectingClient } from '../../test/harness/sql.js';
import { ClientLoops, pace } from './client-loops.js';

/** A write committed by a node, asked directly (not through a listener). */
export interface DirectAck {
  port: number;
  ackAt: number;
}

/**
 * Writes directly to every node every `intervalMs`, one persistent connection per node. A read-only
 * error keeps the connection (a replica being promoted accepts writes on the same session, so the first
 * accepted write is seen without a reconnect delay); any other error reconnects. Bounded by `stop()`
 * and by `maxMs`.
 */
export class DirectWriteProbe extends ClientLoops<DirectAck> {
  constructor(
    private readonly ports: readonly number[],
    private readonly password: string,
    private readonly intervalMs = 10,
    maxMs = 300_000,
  ) {
    super(ports.length, maxMs);
  }

  protected async loop(deadline: number, index: number): Promise<void> {
    const port = this.ports[index] as number;
    const client = new ReconnectingClient({
      port,
      password: this.password,
      connectTimeoutMs: 500,
      queryTimeoutMs: 500,
      applicationName: 'bench-direct-probe',
    });
    while (this.isRunning(deadline)) {
      const started = Date.now();
      try {
        await (await client.connected()).query('INSERT INTO switchyard_writes DEFAULT VALUES');
        this.records.push({ port, ackAt: Date.now() });
      } catch (err) {
        if (!/read-only transaction/.test((err as Error).message)) client.drop();
      }
      await pace(started, this.intervalMs);
    }
    client.drop();
  }
}

/** A server's operational state change seen in `show servers state` (0 down, 2 running). */
export interface ServerStateChange {
  server: string;
  opState: number;
  at: number;
}

/**
 * Polls `show servers state <backend>` on an HAProxy stats socket every ~`intervalMs` and keeps every
 * change of a server's operational state with its time: when HAProxy itself started routing to a server.
 */
export class ServerStatePoller extends ClientLoops<ServerStateChange> {
  constructor(
    private readonly socket: string,
    private readonly backend: string,
    private readonly intervalMs = 5,
    maxMs = 300_000,
  ) {
    super(1, maxMs);
  }

  /** First time `server` was seen running at or after `after`. */
  firstUp(server: string, after: number): number | null {
    return this.records.find((c) => c.server === server && c.opState === 2 && c.at >= after)?.at ?? null;
  }

  protected async loop(deadline: number): Promise<void> {
    const last = new Map<string, number>();
    while (this.isRunning(deadline)) {
      const text = await haproxyCommand(this.socket, `show servers state ${this.backend}`, 1000).catch(
        () => '',
      );
      const at = Date.now();
      for (const s of parseServersState(text).values()) {
        if (last.get(s.server) !== s.opState) {
          last.set(s.server, s.opState);
          this.records.push({ server: s.server, opState: s.opState, at });
        }
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }
}
