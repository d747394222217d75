import pg from 'pg';
import { parseServersState } from '../../src/targets/haproxy/runtime.js';
import { haproxyCommand } from '../../test/harness/index.js';

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
export class DirectWriteProbe {
  readonly acks: DirectAck[] = [];
  private isStopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly ports: readonly number[],
    private readonly password: string,
    private readonly intervalMs = 10,
    private readonly maxMs = 300_000,
  ) {}

  start(): this {
    this.loops = this.ports.map((p) => this.loop(p));
    return this;
  }

  async stop(): Promise<DirectAck[]> {
    this.isStopped = true;
    await Promise.all(this.loops);
    return this.acks;
  }

  private async loop(port: number): Promise<void> {
    const deadline = Date.now() + this.maxMs;
    let client: pg.Client | null = null;
    while (!this.isStopped && Date.now() < deadline) {
      const started = Date.now();
      try {
        if (!client) {
          client = new pg.Client({
            host: '127.0.0.1',
            port,
            user: 'postgres',
            password: this.password,
            database: 'postgres',
            connectionTimeoutMillis: 500,
            query_timeout: 500,
            application_name: 'bench-direct-probe',
          });
          client.on('error', () => undefined);
          await client.connect();
        }
        await client.query('INSERT INTO switchyard_writes DEFAULT VALUES');
        this.acks.push({ port, ackAt: Date.now() });
      } catch (err) {
        if (!/read-only transaction/.test((err as Error).message)) {
          void client?.end().catch(() => undefined);
          client = null;
        }
      }
      const wait = this.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    void client?.end().catch(() => undefined);
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
export class ServerStatePoller {
  readonly changes: ServerStateChange[] = [];
  private isStopped = false;
  private done: Promise<void> | null = null;

  constructor(
    private readonly socket: string,
    private readonly backend: string,
    private readonly intervalMs = 5,
    private readonly maxMs = 300_000,
  ) {}

  start(): this {
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<ServerStateChange[]> {
    this.isStopped = true;
    await this.done;
    return this.changes;
  }

  /** First time `server` was seen running at or after `after`. */
  firstUp(server: string, after: number): number | null {
    return this.changes.find((c) => c.server === server && c.opState === 2 && c.at >= after)?.at ?? null;
  }

  private async loop(): Promise<void> {
    const deadline = Date.now() + this.maxMs;
    const last = new Map<string, number>();
    while (!this.isStopped && Date.now() < deadline) {
      const text = await haproxyCommand(this.socket, `show servers state ${this.backend}`, 1000).catch(
        () => '',
      );
      const at = Date.now();
      for (const s of parseServersState(text).values()) {
        if (last.get(s.server) !== s.opState) {
          last.set(s.server, s.opState);
          this.changes.push({ server: s.server, opState: s.opState, at });
        }
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }
}
