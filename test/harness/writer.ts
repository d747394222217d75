import { ReconnectingClient } from './sql.js';

export interface Ack {
  sentAt: number;
  ackAt: number;
  /** PostgreSQL port of the server that committed the write. */
  port: number;
}

export interface WriterResult {
  acks: Ack[];
  errors: Map<string, number>;
  readOnlyErrors: number;
}

/**
 * A client writing through a listener every `intervalMs`, reconnecting after errors, like an
 * application would. Each write returns the port of the server that committed it. Bounded by
 * `maxWrites` and by `stop()`.
 */
export class Writer {
  private isStopped = false;
  private done: Promise<WriterResult> | null = null;
  constructor(
    private readonly port: number,
    private readonly password: string,
    private readonly intervalMs = 10,
    private readonly maxWrites = 100_000,
  ) {}

  start(): this {
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<WriterResult> {
    this.isStopped = true;
    return (await this.done) as WriterResult;
  }

  private async loop(): Promise<WriterResult> {
    const result: WriterResult = { acks: [], errors: new Map(), readOnlyErrors: 0 };
    const client = new ReconnectingClient(
      { port: this.port, password: this.password, connectTimeoutMs: 2000, queryTimeoutMs: 2000 },
      (c) =>
        c.query(
          'CREATE TABLE IF NOT EXISTS switchyard_writes (id bigserial primary key, at timestamptz default now())',
        ),
    );
    for (let i = 0; i < this.maxWrites && !this.isStopped; i++) {
      const started = Date.now();
      try {
        const c = await client.connected();
        const sentAt = Date.now();
        const res = await c.query<{ port: number }>(
          'INSERT INTO switchyard_writes DEFAULT VALUES RETURNING inet_server_port() AS port',
        );
        result.acks.push({ sentAt, ackAt: Date.now(), port: Number(res.rows[0]?.port) });
      } catch (err) {
        const message = (err as Error).message;
        if (/read-only transaction/.test(message)) result.readOnlyErrors += 1;
        const kind = message.replace(/\d+/g, 'N').slice(0, 60);
        result.errors.set(kind, (result.errors.get(kind) ?? 0) + 1);
        client.drop();
      }
      const wait = this.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    client.drop();
    return result;
  }
}

export interface HolderSpan {
  name: string | null;
  from: number;
  to: number;
}

/**
 * Writes acknowledged by a server whose node did not hold the leader key at any moment between sending
 * the write and its acknowledgement (with `slackMs` for the watch delivering the key change late).
 */
export function acksFromNonHolders(
  acks: readonly Ack[],
  spans: readonly HolderSpan[],
  portToName: ReadonlyMap<number, string>,
  slackMs = 250,
): Ack[] {
  return acks.filter((ack) => {
    const name = portToName.get(ack.port);
    return !spans.some(
      (s) => s.name === name && s.from <= ack.ackAt + slackMs && s.to >= ack.sentAt - slackMs,
    );
  });
}
