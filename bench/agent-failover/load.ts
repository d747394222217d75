import pg from 'pg';

/** One acknowledged write through the routed endpoint. */
export interface Ack {
  id: number;
  sentAt: number;
  ackAt: number;
  port: number;
}

/**
 * A client writing every `intervalMs` through one endpoint and reconnecting after errors, like an
 * application. Keeps every acknowledged id, so lost writes can be counted at the end.
 */
export class RoutedWriter {
  readonly acks: Ack[] = [];
  errors = 0;
  readOnlyErrors = 0;
  #stopped = false;
  #done: Promise<void> | null = null;

  constructor(
    private readonly port: number,
    private readonly password: string,
    private readonly intervalMs = 10,
  ) {}

  start(): this {
    this.#done = this.#loop();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }

  async #loop(): Promise<void> {
    let client: pg.Client | null = null;
    while (!this.#stopped) {
      const started = Date.now();
      try {
        if (!client) {
          client = new pg.Client({
            host: '127.0.0.1',
            port: this.port,
            user: 'postgres',
            password: this.password,
            connectionTimeoutMillis: 2000,
            query_timeout: 3000,
          });
          client.on('error', () => undefined);
          await client.connect();
        }
        const sentAt = Date.now();
        const res = await client.query<{ id: string; port: number }>(
          'INSERT INTO bench_writes DEFAULT VALUES RETURNING id, inet_server_port() AS port',
        );
        const row = res.rows[0];
        if (row) this.acks.push({ id: Number(row.id), sentAt, ackAt: Date.now(), port: Number(row.port) });
      } catch (err) {
        this.errors++;
        if (/read-only transaction/.test((err as Error).message)) this.readOnlyErrors++;
        void client?.end().catch(() => undefined);
        client = null;
      }
      const wait = this.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    void client?.end().catch(() => undefined);
  }
}

export interface ProbeSample {
  at: number;
  /** Names of the nodes that answered `pg_is_in_recovery() = false`. */
  writable: string[];
}

/** Asks every node directly, every `intervalMs`, whether it is out of recovery (accepting writes). */
export class NodeProbe {
  readonly samples: ProbeSample[] = [];
  #stopped = false;
  #done: Promise<void> | null = null;
  readonly #clients = new Map<string, { client: pg.Client | null; retryAt: number }>();

  constructor(
    private readonly nodes: readonly { name: string; pgPort: number }[],
    private readonly password: string,
    private readonly intervalMs = 10,
  ) {}

  start(): this {
    this.#done = this.#loop();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
    for (const c of this.#clients.values()) void c.client?.end().catch(() => undefined);
  }

  async #ask(node: { name: string; pgPort: number }): Promise<boolean> {
    const slot = this.#clients.get(node.name) ?? { client: null, retryAt: 0 };
    this.#clients.set(node.name, slot);
    if (!slot.client) {
      if (Date.now() < slot.retryAt) return false;
      const client = new pg.Client({
        host: '127.0.0.1',
        port: node.pgPort,
        user: 'postgres',
        password: this.password,
        connectionTimeoutMillis: 500,
        query_timeout: 500,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        slot.client = client;
      } catch {
        slot.retryAt = Date.now() + 100;
        void client.end().catch(() => undefined);
        return false;
      }
    }
    try {
      const res = await slot.client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      return res.rows[0]?.r === false;
    } catch {
      void slot.client.end().catch(() => undefined);
      slot.client = null;
      return false;
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const started = Date.now();
      const answers = await Promise.all(this.nodes.map(async (n) => ((await this.#ask(n)) ? n.name : null)));
      this.samples.push({ at: started, writable: answers.filter((a): a is string => a !== null) });
      const wait = this.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Longest gap between consecutive acknowledgements inside [from, to] (ms), minus the write interval. */
export function routedOutage(acks: readonly Ack[], from: number, to: number, intervalMs = 10): number {
  const inside = acks.filter((a) => a.ackAt >= from && a.ackAt <= to).map((a) => a.ackAt);
  let worst = 0;
  for (let i = 1; i < inside.length; i++)
    worst = Math.max(worst, (inside[i] as number) - (inside[i - 1] as number));
  return Math.max(0, worst - intervalMs);
}

/** Longest run of probe samples inside [from, to] with no writable node (ms). */
export function directOutage(samples: readonly ProbeSample[], from: number, to: number): number {
  let worst = 0;
  let start: number | null = null;
  for (const s of samples) {
    if (s.at < from || s.at > to) continue;
    if (s.writable.length === 0) start ??= s.at;
    else if (start !== null) {
      worst = Math.max(worst, s.at - start);
      start = null;
    }
  }
  return worst;
}

/** Samples with two or more writable nodes at once. */
export function doubleWritable(samples: readonly ProbeSample[]): number {
  return samples.filter((s) => s.writable.length >= 2).length;
}

export { percentile } from '../lib/stats.js';
