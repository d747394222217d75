import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ClusterState } from '../../src/cluster/index.js';
import type { Credentials } from '../config/load.js';
import type { PeerStatus } from '../ha/types.js';
import { clusterAsJson } from './cluster-json.js';
import { healthStatus } from './health.js';
import { metricsText } from './metrics.js';
import { checkSwitchover, type SwitchoverRequest } from './switchover.js';
import { statusDocument, type NodeView } from './view.js';

/** What the REST API may ask of the agent. It writes intent (DCS keys) and wakes the loop; it never promotes. */
export interface AgentApi {
  view(): NodeView;
  /** Fresh PostgreSQL query for `GET /patroni` (the race of other nodes depends on it). */
  refreshView(): Promise<NodeView>;
  readCluster(): Promise<ClusterState>;
  probePeers(cluster: ClusterState): Promise<ReadonlyMap<string, PeerStatus>>;
  writeFailover(value: { leader?: string; member?: string; scheduled_at?: string }): Promise<void>;
  clearFailover(): Promise<void>;
  /** CAS on the config key's mod_revision; false when someone else changed it first. */
  writeConfig(config: Record<string, unknown>, modRevision: number): Promise<boolean>;
  wake(): void;
  restart(): Promise<{ ok: boolean; message: string }>;
  reinitialize(force: boolean): Promise<{ ok: boolean; message: string }>;
  reload(): void;
  acceptFailsafe(from: string): { ok: boolean; lsn: number | null; message: string };
  waitForLeaderChange(from: string, timeoutMs: number): Promise<string | null>;
}

const MAX_BODY = 64 * 1024;

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headOnly = false,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain' : 'application/json';
  // HEAD and OPTIONS: the status line only (HAProxy's `option httpchk OPTIONS /primary` relies on it).
  const length = headOnly ? 0 : Buffer.byteLength(text);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': length, ...headers });
  res.end(headOnly ? undefined : text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isAuthorized(req: IncomingMessage, auth: Credentials | null): 'ok' | 'missing' | 'wrong' {
  if (!auth) return 'ok';
  const header = req.headers.authorization;
  if (!header) return 'missing';
  const expected = Buffer.from(
    `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`,
  );
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected) ? 'ok' : 'wrong';
}

/** RFC 7386 merge patch; `null` deletes (how `patronictl resume` sends `{"pause":null}`). */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (
      typeof v === 'object' &&
      !Array.isArray(v) &&
      typeof out[k] === 'object' &&
      out[k] !== null &&
      !Array.isArray(out[k])
    ) {
      out[k] = mergePatch(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out;
}

/** Patroni's REST API on one node (reference §2): health paths, status, cluster, and unsafe actions. */
export function createApiServer(api: AgentApi, auth: Credentials | null): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') {
      const headOnly = method !== 'GET';
      if (path === '/patroni') return send(res, 200, statusDocument(await api.refreshView()), headOnly);
      if (path === '/cluster')
        return send(
          res,
          200,
          { ...clusterAsJson(await api.readCluster()), scope: api.view().scope },
          headOnly,
        );
      if (path === '/history') return send(res, 200, (await api.readCluster()).history, headOnly);
      if (path === '/config') {
        const c = await api.readCluster();
        return c.config.modRevision === null
          ? send(res, 502, '', headOnly)
          : send(res, 200, c.config.raw, headOnly);
      }
      if (path === '/metrics') return send(res, 200, metricsText(api.view()), headOnly);
      if (path === '/failsafe') {
        const f = api.view().cluster;
        return f?.config.isFailsafeMode && f.failsafe
          ? send(res, 200, f.failsafe, headOnly)
          : send(res, 502, '', headOnly);
      }
      const view = headOnly ? api.view() : await api.refreshView();
      const status = healthStatus(path, url.searchParams, view) ?? 503;
      return send(res, status, statusDocument(view), headOnly);
    }
    const access = isAuthorized(req, auth);
    if (access !== 'ok') {
      return send(res, 401, access === 'missing' ? 'no auth header received' : 'not authenticated', false, {
        'WWW-Authenticate': 'Basic realm="Patroni"',
      });
    }
    let body: Record<string, unknown> = {};
    const text = await readBody(req);
    if (text.trim()) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not an object');
        body = parsed as Record<string, unknown>;
      } catch {
        return send(res, 400, 'Bad request: request body is not a JSON object');
      }
    }
    const route = `${method} ${path}`;
    if (route === 'POST /switchover' || route === 'POST /failover') {
      const kind = path === '/switchover' ? 'switchover' : 'failover';
      const cluster = await api.readCluster();
      const peers = await api.probePeers(cluster);
      const check = checkSwitchover(kind, body as SwitchoverRequest, cluster, peers, Date.now());
      if (!check.ok) return send(res, check.status, check.message);
      await api.writeFailover(check.value);
      api.wake();
      if (check.isScheduled)
        return send(res, 202, `${kind === 'switchover' ? 'Switchover' : 'Failover'} scheduled`);
      const from = cluster.leader?.name ?? '';
      const timeoutMs = 2 * Math.max(10, cluster.config.loopWait) * 1000;
      const newLeader = await api.waitForLeaderChange(from, timeoutMs);
      if (newLeader)
        return send(
          res,
          200,
          `Successfully ${kind === 'switchover' ? 'switched over' : 'failed over'} to "${newLeader}"`,
        );
      return send(res, 503, `${kind === 'switchover' ? 'Switchover' : 'Failover'} status unknown`);
    }
    if (route === 'DELETE /switchover') {
      const c = await api.readCluster();
      if (!c.failover?.scheduled_at) return send(res, 404, 'no switchover is scheduled');
      await api.clearFailover();
      return send(res, 200, 'scheduled switchover deleted');
    }
    if (route === 'PATCH /config') {
      const c = await api.readCluster();
      if (c.config.modRevision === null) return send(res, 503, 'config is not set');
      const next = mergePatch(c.config.raw as Record<string, unknown>, body);
      if (!(await api.writeConfig(next, c.config.modRevision))) return send(res, 409, 'Conflict');
      api.wake();
      return send(res, 200, next);
    }
    if (route === 'POST /restart') {
      const r = await api.restart();
      return send(res, r.ok ? 200 : 503, r.message);
    }
    if (route === 'POST /reload') {
      api.reload();
      return send(res, 202, 'reload scheduled');
    }
    if (route === 'POST /reinitialize') {
      const r = await api.reinitialize(body['force'] === true);
      return send(res, r.ok ? 200 : 503, r.message);
    }
    if (route === 'POST /failsafe') {
      const r = api.acceptFailsafe(typeof body['name'] === 'string' ? body['name'] : '');
      return send(
        res,
        r.ok ? 200 : r.message === 'Running as a leader' ? 500 : 502,
        r.message,
        false,
        r.lsn !== null ? { lsn: String(r.lsn) } : {},
      );
    }
    return send(res, 404, 'Not Found');
  };
  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 503, `error: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  });
}
