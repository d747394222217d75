import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import type { ClusterState } from '../../src/cluster/index.js';
import type { Credentials, RestApiTls } from '../config/load.js';
import { QUORUM_REFUSAL } from '../config/schema.js';
import type { PeerStatus } from '../ha/types.js';
import { clusterAsJson } from '../../src/cluster/cluster-json.js';
import { healthStatus } from './health.js';
import { metricsText } from './metrics.js';
import { checkSwitchover, type SwitchoverRequest } from './switchover.js';
import { statusDocument, type NodeView } from './view.js';
import { mergePatch } from '../../src/cluster/merge-patch.js';
import { basicAuthHeader } from '../../src/util/basic-auth.js';

/** What the REST API may ask of the agent. It writes intent (DCS keys) and wakes the loop; it never promotes. */
export interface AgentApi {
  view(): NodeView;
  /** Fresh PostgreSQL query for `GET /patroni` (the race of other nodes depends on it). */
  refreshView(): Promise<NodeView>;
  readCluster(): Promise<ClusterState>;
  probePeers(cluster: ClusterState): Promise<ReadonlyMap<string, PeerStatus>>;
  /**
   * A switchover/failover request arrived and `cluster` was read for it: start what a handover by this node
   * would do anyway while the request is checked (the agent: a CHECKPOINT when the request names it as the
   * leader and is not scheduled). Must not change the cluster or anything a client sees.
   */
  prepareHandover?(cluster: ClusterState, body: SwitchoverRequest): void;
  writeFailover(value: { leader?: string; member?: string; scheduled_at?: string }): Promise<void>;
  clearFailover(): Promise<void>;
  /** CAS on the config key's mod_revision; false when someone else changed it first. */
  writeConfig(config: Record<string, unknown>, modRevision: number): Promise<boolean>;
  wake(): void;
  restart(): Promise<{ ok: boolean; message: string }>;
  reinitialize(force: boolean): Promise<{ ok: boolean; message: string }>;
  /** Re-reads the YAML and applies what can change live (`POST /reload`, like SIGHUP). */
  reload(): Promise<ReloadAnswer> | void;
  acceptFailsafe(from: string): { ok: boolean; lsn: number | null; message: string };
  waitForLeaderChange(from: string, timeoutMs: number): Promise<string | null>;
}

/** What `POST /reload` answers: 202 with what was applied, or 500 when the new file was refused. */
export interface ReloadAnswer {
  readonly ok: boolean;
  readonly message: string;
}

/** The REST API's security settings, read on every request so that a reload applies them live. */
export interface RestApiSecurity {
  readonly auth: Credentials | null;
  readonly tls: RestApiTls | null;
  readonly allowUnauthenticatedWrites: boolean;
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
  const expected = Buffer.from(basicAuthHeader(auth));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected) ? 'ok' : 'wrong';
}

/** Key material for an HTTPS server from the restapi TLS files (read now: a reload re-reads them). */
export function tlsOptions(tls: RestApiTls) {
  return {
    cert: readFileSync(tls.certfile),
    key: readFileSync(tls.keyfile ?? tls.certfile),
    ...(tls.keyfilePassword !== undefined ? { passphrase: tls.keyfilePassword } : {}),
    ...(tls.cafile ? { ca: readFileSync(tls.cafile) } : {}),
    requestCert: tls.verifyClient !== 'none',
    rejectUnauthorized: tls.verifyClient === 'required',
  };
}

/**
 * Why an unsafe request is refused before authentication is looked at, or null. Without credentials and
 * without `allow_unauthenticated_writes` the unsafe endpoints stay closed (configuration validation
 * refuses such a file; this guards any other caller). `verify_client: optional` needs a certificate here.
 */
function unsafeRefusal(req: IncomingMessage, security: RestApiSecurity): string | null {
  const socket = req.socket as Partial<TLSSocket>;
  const hasClientCert = socket.encrypted === true && socket.authorized === true;
  if (security.tls?.verifyClient === 'optional' && !hasClientCert) return 'client certificate required';
  if (!security.auth && !security.allowUnauthenticatedWrites && !hasClientCert)
    return 'unsafe endpoints are disabled: set restapi.authentication (or restapi.allow_unauthenticated_writes: true)';
  return null;
}

/**
 * Patroni's REST API on one node (reference §2): health paths, status, cluster, and unsafe actions. HTTPS
 * when `security().tls` is set at creation (certificates can be swapped later with `setSecureContext`).
 * `hooks.reload` answers `POST /reload` (the agent's YAML reload) in place of `api.reload`.
 */
export function createApiServer(
  api: AgentApi,
  security: () => RestApiSecurity,
  hooks: { reload?: () => Promise<ReloadAnswer> } = {},
): Server | HttpsServer {
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
      if (path === '/readiness' || path === '/liveness') {
        // Patroni 4 answers these two with the status code only (recorded 4.0.7 bodies are empty).
        const v = headOnly ? api.view() : await api.refreshView();
        return send(res, healthStatus(path, url.searchParams, v) ?? 503, '', headOnly);
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
    const current = security();
    const refusal = unsafeRefusal(req, current);
    if (refusal) return send(res, 403, refusal);
    const access = isAuthorized(req, current.auth);
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
      api.prepareHandover?.(cluster, body as SwitchoverRequest);
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
      if (next['synchronous_mode'] === 'quorum')
        return send(res, 400, `config key synchronous_mode: ${QUORUM_REFUSAL}`);
      if (!(await api.writeConfig(next, c.config.modRevision))) return send(res, 409, 'Conflict');
      api.wake();
      return send(res, 200, next);
    }
    if (route === 'POST /restart') {
      const r = await api.restart();
      return send(res, r.ok ? 200 : 503, r.message);
    }
    if (route === 'POST /reload') {
      const r = hooks.reload ? await hooks.reload() : await api.reload();
      if (!r) return send(res, 202, 'reload scheduled');
      // 202 like Patroni (patronictl reads 200 as "nothing changed"), with what was applied in the body.
      return send(res, r.ok ? 202 : 500, r.message);
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
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 503, `error: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  };
  const tls = security().tls;
  return tls ? createHttpsServer(tlsOptions(tls), listener) : createServer(listener);
}
