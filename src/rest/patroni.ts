import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request, errors as undiciErrors } from 'undici';
import { SwitchyardError, describeError } from '../errors.js';
import { basicAuthHeader } from '../util/basic-auth.js';
import { deadline } from '../util/deadline.js';

/** Basic auth of Patroni's REST API (`restapi.authentication` / `ctl.authentication`). */
export interface RestAuth {
  username: string;
  password: string;
}

/**
 * Basic auth from command-line style settings: a user and the password from an environment variable
 * or a file (trailing newline dropped). No user → no auth.
 */
export function restAuthFrom(o: {
  username?: string | undefined;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
}): RestAuth | undefined {
  if (!o.username) return undefined;
  let password = '';
  if (o.passwordEnv) password = process.env[o.passwordEnv] ?? '';
  else if (o.passwordFile) {
    try {
      password = readFileSync(o.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new SwitchyardError(
        'SY_ERR_CONFIG_UNREADABLE',
        `cannot read the REST password file ${o.passwordFile}: ${describeError(err)}`,
        { cause: err, exitCode: 2 },
      );
    }
  }
  return { username: o.username, password };
}

/** TLS towards the REST API: PEM contents, or file paths given to {@link PatroniRest.open}. */
export interface RestTls<T = Buffer> {
  ca?: T | undefined;
  cert?: T | undefined;
  key?: T | undefined;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string | undefined;
  /** Verify the server certificate against `ca` (default true; `false` like `ctl.insecure`). */
  verify?: boolean | undefined;
}

export interface PatroniRestOptions {
  auth?: RestAuth | undefined;
  tls?: RestTls | undefined;
  /** Deadline of one request (connect + headers + body), ms. Default 5000. */
  timeoutMs?: number | undefined;
}

export interface CallOptions {
  /** JSON body (sent with `Content-Type: application/json`). */
  body?: unknown;
  /** This request's deadline, ms (default: the client's). */
  timeoutMs?: number;
  /** Cancels the request; a cancelled request rejects with `SY_ERR_REST_UNREACHABLE`. */
  signal?: AbortSignal;
  /** This request's basic auth instead of the client's; `null` sends none (a URL not known to be a member). */
  auth?: RestAuth | null;
}

export interface RestAnswer {
  status: number;
  /** The body as text (Patroni answers plain text for actions, JSON for reads). */
  body: string;
}

export type RestErrorCode = 'SY_ERR_REST_TIMEOUT' | 'SY_ERR_REST_UNREACHABLE' | 'SY_ERR_REST_STATUS';

/** A failed Patroni REST call. `status`/`body` are set for `SY_ERR_REST_STATUS` only. Never holds a password. */
export class RestError extends SwitchyardError {
  override name = 'RestError';
  declare readonly code: RestErrorCode;
  constructor(
    code: RestErrorCode,
    message: string,
    readonly url: string,
    readonly status: number | null = null,
    readonly body: string = '',
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** Longest slice of an answer's body quoted in an error message. */
const BODY_IN_MESSAGE = 300;

/**
 * The base URL of a member's REST API from the `api_url` it publishes (`http://host:8008/patroni` →
 * `http://host:8008`). Credentials written into the URL are dropped: auth comes from the client's options.
 */
export function restBase(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new SwitchyardError(
      'SY_ERR_DCS_VALUE_INVALID',
      `member api_url ${JSON.stringify(redactUrl(apiUrl))} is not a URL (expected http(s)://host:port/patroni)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new SwitchyardError(
      'SY_ERR_DCS_VALUE_INVALID',
      `member api_url ${redactUrl(apiUrl)} has scheme ${url.protocol} (expected http: or https:)`,
    );
  url.username = '';
  url.password = '';
  return `${url.origin}${url.pathname.replace(/\/patroni\/?$/, '').replace(/\/$/, '')}`;
}

/** `user:password@` removed from anything that looks like a URL, for messages. */
export function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]*@/g, '$1');
}

/**
 * One Patroni REST client for everything that talks to members (ctl, switchover, the agent's peers, the
 * router's probe): undici with one connection pool, basic auth, TLS, a deadline on every request, and
 * coded errors — `SY_ERR_REST_TIMEOUT` (no complete answer within the deadline), `SY_ERR_REST_UNREACHABLE`
 * (connection refused/reset, TLS failure, cancelled), `SY_ERR_REST_STATUS` (an answer ≥ 400 from a named
 * method; `request` returns every status as it is). Messages name method and URL, never the password.
 */
export class PatroniRest {
  private readonly dispatcher: Agent;
  private readonly authorization: string | undefined;
  readonly timeoutMs: number;

  constructor(options: PatroniRestOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.authorization = options.auth ? basicAuthHeader(options.auth) : undefined;
    const tls = options.tls ?? {};
    this.dispatcher = new Agent({
      connect: {
        timeout: this.timeoutMs,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
        rejectUnauthorized: tls.verify !== false,
      },
      keepAliveTimeout: 10_000,
    });
  }

  /** Like the constructor, with TLS given as file paths (read once, here). */
  static async open(
    options: Omit<PatroniRestOptions, 'tls'> & { tls?: RestTls<string> | undefined },
  ): Promise<PatroniRest> {
    const read = async (what: string, path: string | undefined) => {
      if (!path) return undefined;
      try {
        return await readFile(path);
      } catch (err) {
        throw new SwitchyardError(
          'SY_ERR_CONFIG_UNREADABLE',
          `cannot read the REST API TLS ${what} ${path}: ${describeError(err)}`,
          { cause: err },
        );
      }
    };
    const tls = options.tls
      ? {
          ca: await read('CA', options.tls.ca),
          cert: await read('certificate', options.tls.cert),
          key: await read('key', options.tls.key),
          passphrase: options.tls.passphrase,
          verify: options.tls.verify,
        }
      : undefined;
    return new PatroniRest({ ...options, tls });
  }

  /**
   * One request to `path` of the member whose `api_url` is given. Resolves with any HTTP status; rejects
   * with `SY_ERR_REST_TIMEOUT` or `SY_ERR_REST_UNREACHABLE` only.
   */
  async request(
    apiUrl: string,
    method: string,
    path: string,
    options: CallOptions = {},
  ): Promise<RestAnswer> {
    const url = `${restBase(apiUrl)}${path}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const limit = deadline(timeoutMs, options.signal);
    const headers: Record<string, string> = { accept: 'application/json' };
    const authorization =
      options.auth === undefined
        ? this.authorization
        : options.auth === null
          ? undefined
          : basicAuthHeader(options.auth);
    if (authorization) headers['authorization'] = authorization;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await request(url, {
        method: method as 'GET',
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        dispatcher: this.dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: limit.signal,
      });
      return { status: res.statusCode, body: (await res.body.text()).trim() };
    } catch (err) {
      const timedOut =
        limit.isPast() ||
        err instanceof undiciErrors.HeadersTimeoutError ||
        err instanceof undiciErrors.BodyTimeoutError ||
        err instanceof undiciErrors.ConnectTimeoutError;
      if (timedOut)
        throw new RestError(
          'SY_ERR_REST_TIMEOUT',
          `${method} ${url}: no answer within ${timeoutMs} ms`,
          url,
          null,
          '',
          {
            cause: err,
          },
        );
      const why = options.signal?.aborted ? 'cancelled' : redactUrl(describeError(causeOf(err)));
      throw new RestError('SY_ERR_REST_UNREACHABLE', `${method} ${url} failed: ${why}`, url, null, '', {
        cause: err,
      });
    } finally {
      limit.done();
    }
  }

  /** `request`, but an answer ≥ 400 rejects with `SY_ERR_REST_STATUS` (status and body attached). */
  async call(apiUrl: string, method: string, path: string, options: CallOptions = {}): Promise<RestAnswer> {
    const answer = await this.request(apiUrl, method, path, options);
    if (answer.status >= 400) {
      const url = `${restBase(apiUrl)}${path}`;
      throw new RestError(
        'SY_ERR_REST_STATUS',
        `${method} ${url} answered ${answer.status}${answer.body ? `: ${answer.body.slice(0, BODY_IN_MESSAGE)}` : ''}`,
        url,
        answer.status,
        answer.body,
      );
    }
    return answer;
  }

  /** GET a JSON document (`/patroni`, `/cluster`, `/history`, `/config`); not JSON → `SY_ERR_REST_STATUS`. */
  async getJson(apiUrl: string, path: string, options: Omit<CallOptions, 'body'> = {}): Promise<unknown> {
    const answer = await this.call(apiUrl, 'GET', path, options);
    try {
      return JSON.parse(answer.body) as unknown;
    } catch {
      const url = `${restBase(apiUrl)}${path}`;
      throw new RestError(
        'SY_ERR_REST_STATUS',
        `GET ${url} answered ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 80)}`,
        url,
        answer.status,
        answer.body,
      );
    }
  }

  patroni(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<unknown> {
    return this.getJson(apiUrl, '/patroni', options);
  }
  cluster(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<unknown> {
    return this.getJson(apiUrl, '/cluster', options);
  }
  history(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<unknown> {
    return this.getJson(apiUrl, '/history', options);
  }
  config(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<unknown> {
    return this.getJson(apiUrl, '/config', options);
  }

  /** POST /switchover `{leader, candidate?, scheduled_at?}` to the leader. */
  switchover(apiUrl: string, body: SwitchoverBody, options?: Omit<CallOptions, 'body'>): Promise<RestAnswer> {
    return this.call(apiUrl, 'POST', '/switchover', { ...options, body });
  }
  /** DELETE /switchover: cancels a scheduled switchover (`patronictl flush … switchover`). */
  cancelSwitchover(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<RestAnswer> {
    return this.call(apiUrl, 'DELETE', '/switchover', options);
  }
  failover(
    apiUrl: string,
    body: { candidate: string; leader?: string },
    options?: Omit<CallOptions, 'body'>,
  ) {
    return this.call(apiUrl, 'POST', '/failover', { ...options, body });
  }
  restart(apiUrl: string, body: RestartBody = {}, options?: Omit<CallOptions, 'body'>): Promise<RestAnswer> {
    return this.call(apiUrl, 'POST', '/restart', { ...options, body });
  }
  /** DELETE /restart: cancels a scheduled restart (`patronictl flush … restart`). */
  cancelRestart(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<RestAnswer> {
    return this.call(apiUrl, 'DELETE', '/restart', options);
  }
  reinitialize(apiUrl: string, body: { force?: boolean } = {}, options?: Omit<CallOptions, 'body'>) {
    return this.call(apiUrl, 'POST', '/reinitialize', { ...options, body });
  }
  reload(apiUrl: string, options?: Omit<CallOptions, 'body'>): Promise<RestAnswer> {
    return this.call(apiUrl, 'POST', '/reload', options);
  }
  /** PATCH /config with an RFC 7386 merge patch (`{"pause": true}`, `{"pause": null}`, …). */
  patchConfig(apiUrl: string, patch: Record<string, unknown>, options?: Omit<CallOptions, 'body'>) {
    return this.call(apiUrl, 'PATCH', '/config', { ...options, body: patch });
  }

  /** POST /failsafe `{name, conn_url, api_url}` (the agent's failsafe check while etcd is down). */
  failsafe(
    apiUrl: string,
    body: { name: string; conn_url: string; api_url: string },
    options?: Omit<CallOptions, 'body'>,
  ): Promise<RestAnswer> {
    return this.call(apiUrl, 'POST', '/failsafe', { ...options, body });
  }

  /**
   * The status code of a health endpoint (`/primary`, `/replica`, `/health`, `/liveness`, …): 200 and
   * 503 are both answers, not errors. Rejects only with `SY_ERR_REST_TIMEOUT`/`SY_ERR_REST_UNREACHABLE`.
   */
  async health(apiUrl: string, path: string, options?: Omit<CallOptions, 'body'>): Promise<number> {
    return (await this.request(apiUrl, 'GET', path, options)).status;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

export interface SwitchoverBody {
  leader: string;
  candidate?: string;
  scheduled_at?: string;
}

export interface RestartBody {
  schedule?: string;
  restart_pending?: boolean;
  role?: 'primary' | 'replica' | 'master';
  postgres_version?: string;
  timeout?: number;
}

/** undici wraps the socket error (`ECONNREFUSED …`) in `cause` of a generic "fetch failed"-like error. */
function causeOf(err: unknown): unknown {
  if (
    err instanceof Error &&
    err.cause instanceof Error &&
    /^(fetch failed|other side closed)?$/.test(err.message)
  )
    return err.cause;
  return err;
}
