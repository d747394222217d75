import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { DcsUnavailableError, SwitchyardError, describeError } from '../errors.js';
import { basicAuthHeader } from '../util/basic-auth.js';
import { deadline } from '../util/deadline.js';
import { normaliseHosts, type EtcdConnection } from './connect.js';

/** One node of etcd's v2 key tree, validated (etcd is untrusted input like the values it holds). */
export interface V2Node {
  key: string;
  dir?: boolean | undefined;
  value?: string | undefined;
  nodes?: V2Node[] | undefined;
  modifiedIndex: number;
  createdIndex: number;
}

const V2NodeSchema: z.ZodType<V2Node> = z.lazy(() =>
  z.object({
    key: z.string(),
    dir: z.boolean().optional(),
    value: z.string().optional(),
    nodes: z.array(V2NodeSchema).optional(),
    modifiedIndex: z.number().int().nonnegative(),
    createdIndex: z.number().int().nonnegative(),
  }),
);

const V2BodySchema = z.object({
  action: z.string().optional(),
  node: V2NodeSchema.optional(),
  errorCode: z.number().int().optional(),
  message: z.string().optional(),
  cause: z.string().optional(),
  index: z.number().int().optional(),
});
export type V2Body = z.infer<typeof V2BodySchema>;

/** etcd v2 error codes the source acts on (etcd's `error/error.go`). */
export const V2_KEY_NOT_FOUND = 100;
export const V2_EVENT_INDEX_CLEARED = 401;

export interface V2Answer {
  status: number;
  /** `X-Etcd-Index`: the store index when etcd answered (for a watch: when the watch started). */
  etcdIndex: number;
  /** null only for a long poll whose window ended without an event. */
  body: V2Body | null;
}

/**
 * A v2 keys client over undici: basic auth, TLS from files, a deadline on every request, and endpoint
 * failover (a transport failure or 5xx moves the next request to the next host). It never retries a
 * request itself: the source owns retries and resyncs.
 */
export class EtcdV2Http {
  private current = 0;
  private constructor(
    private readonly hosts: readonly string[],
    private readonly agent: Agent,
    private readonly authorization: string | undefined,
    readonly timeoutMs: number,
  ) {}

  static async open(conn: EtcdConnection): Promise<EtcdV2Http> {
    const isTls = conn.tls !== undefined || conn.hosts.some((h) => h.startsWith('https://'));
    const timeoutMs = conn.requestTimeoutMs ?? 2000;
    let tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    if (conn.tls) {
      try {
        tls = {
          ...(conn.tls.ca ? { ca: await readFile(conn.tls.ca) } : {}),
          ...(conn.tls.cert ? { cert: await readFile(conn.tls.cert) } : {}),
          ...(conn.tls.key ? { key: await readFile(conn.tls.key) } : {}),
        };
      } catch (err) {
        throw new SwitchyardError(
          'SY_ERR_CONFIG_UNREADABLE',
          `cannot read etcd TLS files: ${describeError(err)}`,
          { cause: err },
        );
      }
    }
    if (conn.username !== undefined && conn.password === undefined) {
      throw new SwitchyardError('SY_ERR_CONFIG_INVALID', 'etcd username is set but no password was given');
    }
    const authorization =
      conn.username !== undefined
        ? basicAuthHeader({ username: conn.username, password: conn.password })
        : undefined;
    const agent = new Agent({
      connect: { timeout: timeoutMs, ...tls },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 30_000,
    });
    return new EtcdV2Http(normaliseHosts(conn.hosts, isTls), agent, authorization, timeoutMs);
  }

  /**
   * GET `/v2/keys<path>?<query>`. Resolves for any answer etcd gives in the v2 format (including 404
   * key-not-found and 400 event-index-cleared); rejects with DcsUnavailableError on transport failures,
   * deadlines and 5xx, and with a SwitchyardError naming the cause for other answers (auth, no v2 API).
   * With `windowMs` (a watch's long poll) the headers keep the request deadline, the body may take up to
   * `windowMs`, and a body that has not come by then resolves with `body: null` (no event yet).
   */
  async get(
    path: string,
    query: Record<string, string>,
    options: { windowMs?: number; signal?: AbortSignal } = {},
  ): Promise<V2Answer> {
    const host = this.hosts[this.current % this.hosts.length] as string;
    const url = `${host}/v2/keys${path}?${new URLSearchParams(query).toString()}`;
    const where = `GET ${host}/v2/keys${path}`;
    const limitMs = options.windowMs ?? this.timeoutMs;
    const limit = deadline(limitMs, options.signal);
    const signal = limit.signal;
    let status = 0;
    let etcdIndexHeader: string | string[] | undefined;
    let text: string | null = null;
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        headers: this.authorization ? { authorization: this.authorization } : {},
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: options.windowMs !== undefined ? 0 : this.timeoutMs,
      });
      status = res.statusCode;
      etcdIndexHeader = res.headers['x-etcd-index'];
      text = await res.body.text();
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const isPastDeadline = limit.isPast();
      const isQuietWindow = options.windowMs !== undefined && status === 200 && isPastDeadline;
      if (!isQuietWindow) {
        this.current += 1;
        const why = isPastDeadline ? `no answer within ${limitMs} ms` : describeError(err);
        throw new DcsUnavailableError(`etcd unavailable (${where}): ${why}`, { cause: err });
      }
    } finally {
      limit.done();
    }
    if (status >= 500) {
      this.current += 1;
      throw new DcsUnavailableError(
        `etcd unavailable (${where}): HTTP ${status}: ${(text ?? '').slice(0, 200)}`,
      );
    }
    if (text === '') {
      this.current += 1;
      throw new DcsUnavailableError(
        `etcd unavailable (${where}): HTTP ${status} with an empty body (connection closed)`,
      );
    }
    let body: V2Body | null = null;
    if (text !== null) {
      try {
        body = V2BodySchema.parse(JSON.parse(text));
      } catch {
        const hint =
          status === 404
            ? ': this etcd does not serve the v2 API; start it with --enable-v2=true (etcd 3.4/3.5) or use dcs.type: etcd3'
            : '';
        throw new SwitchyardError(
          'SY_ERR_DCS_UNAVAILABLE',
          `etcd v2 answered ${where} with HTTP ${status} and no v2 JSON body (${JSON.stringify(text.slice(0, 80))})${hint}`,
        );
      }
    }
    if (status === 401 || status === 403) {
      throw new SwitchyardError(
        'SY_ERR_DCS_UNAVAILABLE',
        `etcd v2 refused ${where} (HTTP ${status}, errorCode ${body?.errorCode ?? '?'}: ${body?.message ?? ''}); ` +
          `check dcs.username/password and the user's v2 role`,
      );
    }
    const raw = Array.isArray(etcdIndexHeader) ? etcdIndexHeader[0] : etcdIndexHeader;
    const etcdIndex = raw !== undefined ? Number(raw) : (body?.index ?? NaN);
    if (!Number.isSafeInteger(etcdIndex) || etcdIndex < 0) {
      throw new SwitchyardError(
        'SY_ERR_DCS_UNAVAILABLE',
        `etcd v2 answered ${where} without a valid X-Etcd-Index header (found ${JSON.stringify(raw ?? null)})`,
      );
    }
    return { status, etcdIndex, body };
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
