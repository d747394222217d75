/**
 * The outside client of the fault suite, run inside the lab's client namespace (`ip netns exec <ns> node
 * --import tsx test/agent/faults/client.ts <mode> <config.json>`):
 *
 * - `write`: every `intervalMs`, one INSERT to every node directly (one connection per node, one write in
 *   flight per node), each with a unique id. Every acknowledged write is one JSON line
 *   `{"k":"ack","node","id","sent","ack"}` (ms, wall clock). Every 100 ms it also reads the leader key and the
 *   remaining TTL of its lease from etcd: `{"k":"lease","at","holder","lease","ttl"}` (`at` = request sent).
 * - `rest`: `concurrency` loops of `GET /patroni` against one agent (bounded by `maxMs`).
 *
 * Both stop on SIGTERM, after `maxMs` or (writer) after `maxWritesPerNode` attempts per node, and print
 * `{"k":"end"}` last.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import http from 'node:http';
import { Etcd3 } from 'etcd3';
import pg from 'pg';

interface WriteConfig {
  nodes: { name: string; ip: string }[];
  password: string;
  etcdHosts: string;
  scope: string;
  intervalMs: number;
  maxMs: number;
  /** Writes per node at most (default 20,000: 200 s at 10 ms). */
  maxWritesPerNode?: number;
  out: string;
}

interface RestConfig {
  url: string;
  concurrency: number;
  maxMs: number;
  out: string;
}

const [mode, configPath] = process.argv.slice(2);
let stopped = false;
process.on('SIGTERM', () => {
  stopped = true;
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function writer(cfg: WriteConfig): Promise<void> {
  const out = createWriteStream(cfg.out, { flags: 'a' });
  const emit = (o: object) => out.write(`${JSON.stringify(o)}\n`);
  const deadline = Date.now() + cfg.maxMs;
  let nextId = 0;
  const nodeLoop = async (node: { name: string; ip: string }) => {
    let client: pg.Client | null = null;
    const drop = () => {
      const c = client;
      client = null;
      // A write stuck on a cut primary: destroy the socket, do not wait for end().
      (c as unknown as { connection?: { stream?: { destroy(): void } } })?.connection?.stream?.destroy();
      void c?.end().catch(() => undefined);
    };
    const maxWrites = cfg.maxWritesPerNode ?? 20_000;
    for (let n = 0; n < maxWrites && !stopped && Date.now() < deadline; n++) {
      const started = Date.now();
      let pause = cfg.intervalMs;
      try {
        if (!client) {
          const c = new pg.Client({
            host: node.ip,
            port: 5432,
            user: 'postgres',
            password: cfg.password,
            database: 'postgres',
            connectionTimeoutMillis: 1000,
            query_timeout: 4000,
          });
          c.on('error', () => undefined);
          client = c;
          await c.connect();
        }
        const id = ++nextId;
        const sent = Date.now();
        await client.query('INSERT INTO faults_w (id, node) VALUES ($1, $2)', [id, node.name]);
        emit({ k: 'ack', node: node.name, id, sent, ack: Date.now() });
      } catch (err) {
        const msg = (err as Error).message;
        // read-only (a replica) keeps its connection; anything else reconnects after a short pause
        if (!/read-only transaction/.test(msg)) {
          drop();
          pause = 50;
        }
      }
      const wait = pause - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
    drop();
  };
  const leaseLoop = async () => {
    const etcd = new Etcd3({ hosts: cfg.etcdHosts.split(',').map((h) => `http://${h}`), dialTimeout: 1000 });
    const key = `/service/${cfg.scope}/leader`;
    while (!stopped && Date.now() < deadline) {
      const at = Date.now();
      try {
        const res = await Promise.race([
          (async () => {
            const r = await etcd.get(key).exec();
            const kv = r.kvs[0];
            if (!kv) return { holder: null, lease: null, ttl: null };
            const lease = String(kv.lease);
            const t = await etcd.leaseClient.leaseTimeToLive({ ID: lease });
            return { holder: kv.value.toString(), lease, ttl: Number(t.TTL) };
          })(),
          sleep(1000).then(() => null),
        ]);
        if (res) emit({ k: 'lease', at, ...res });
      } catch {
        // etcd unreachable from the client: no sample
      }
      const wait = 100 - (Date.now() - at);
      if (wait > 0) await sleep(wait);
    }
    etcd.close();
  };
  await Promise.all([...cfg.nodes.map(nodeLoop), leaseLoop()]);
  emit({ k: 'end' });
  await new Promise((r) => out.end(r));
}

async function rest(cfg: RestConfig): Promise<void> {
  const deadline = Date.now() + cfg.maxMs;
  let answered = 0;
  let failed = 0;
  const agent = new http.Agent({ keepAlive: false, maxSockets: cfg.concurrency });
  const get = () =>
    new Promise<void>((resolve) => {
      const req = http.get(`${cfg.url}/patroni`, { agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          answered++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => {
        failed++;
        resolve();
      });
    });
  const loop = async () => {
    while (!stopped && Date.now() < deadline) {
      const started = Date.now();
      await get();
      if (Date.now() - started < 20) await sleep(20);
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, loop));
  const out = createWriteStream(cfg.out, { flags: 'a' });
  out.write(`${JSON.stringify({ k: 'end', answered, failed })}\n`);
  await new Promise((r) => out.end(r));
}

const config = JSON.parse(readFileSync(configPath ?? '', 'utf8')) as WriteConfig & RestConfig;
const done = mode === 'rest' ? rest(config) : writer(config);
done.then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`fault client failed: ${String(err)}\n`);
    process.exit(1);
  },
);
