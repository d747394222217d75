import { readFile } from 'node:fs/promises';
import type { Etcd3, IOptions } from 'etcd3';
import { DcsUnavailableError, SwitchyardError, describeError } from '../errors.js';

/** How to reach etcd. Shared by the router (its YAML `dcs:` section) and the agent (patroni.yml `etcd3:`). */
export interface EtcdConnection {
  /** `host:port` or `http(s)://host:port`. */
  hosts: readonly string[];
  username?: string | undefined;
  password?: string | undefined;
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
  /** Deadline of one etcd request; without it a call blocks while etcd is unreachable. */
  requestTimeoutMs?: number;
}

export function normaliseHosts(hosts: readonly string[], isTls: boolean): string[] {
  return hosts.map((h) => (/^https?:\/\//.test(h) ? h : `${isTls ? 'https' : 'http'}://${h}`));
}

/**
 * Opens an etcd v3 client. Requests get a deadline (`requestTimeoutMs`, default 2 s) and the library's
 * own retry/circuit-breaker is replaced by a single attempt: callers own retries and backoff, so a DCS
 * outage surfaces as an error within the deadline instead of a call that hangs.
 */
export async function connectEtcd(conn: EtcdConnection): Promise<Etcd3> {
  // etcd3 (gRPC, protobuf) and cockatiel load here, not at import: a router on etcd's v2 API never needs them.
  const [{ Etcd3 }, { ConsecutiveBreaker, circuitBreaker, handleAll, noop }] = await Promise.all([
    import('etcd3'),
    import('cockatiel'),
  ]);
  const isTls = conn.tls !== undefined || conn.hosts.some((h) => h.startsWith('https://'));
  const timeout = conn.requestTimeoutMs ?? 2000;
  const options: IOptions = {
    hosts: normaliseHosts(conn.hosts, isTls),
    dialTimeout: timeout,
    // Unary calls get a deadline; streams (watch, lease keepalive) live as long as the connection.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // Notice a dead etcd on an idle watch stream (etcd's default minimum ping interval is 5 s).
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 2000 },
    faultHandling: {
      // No retries inside the client; a breaker that never opens for long keeps endpoint failover working.
      global: noop,
      host: () => circuitBreaker(handleAll, { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
    },
  };
  if (conn.username !== undefined) {
    if (conn.password === undefined) {
      throw new SwitchyardError('SY_ERR_CONFIG_INVALID', 'etcd username is set but no password was given');
    }
    options.auth = {
      username: conn.username,
      password: conn.password,
      callOptions: () => ({ deadline: Date.now() + timeout }),
    };
  }
  if (conn.tls) {
    try {
      const ca = conn.tls.ca ? await readFile(conn.tls.ca) : undefined;
      const cert = conn.tls.cert ? await readFile(conn.tls.cert) : undefined;
      const key = conn.tls.key ? await readFile(conn.tls.key) : undefined;
      if (!ca) throw new Error('tls.ca is required to verify etcd');
      options.credentials = {
        rootCertificate: ca,
        ...(cert ? { certChain: cert } : {}),
        ...(key ? { privateKey: key } : {}),
      };
    } catch (err) {
      throw new SwitchyardError(
        'SY_ERR_CONFIG_UNREADABLE',
        `cannot read etcd TLS files: ${describeError(err)}`,
        { cause: err },
      );
    }
  }
  return new Etcd3(options);
}

const UNAVAILABLE =
  /unavailable|deadline|timed? ?out|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|No connection established|broken circuit|no leader|not a primary lessor|Connection dropped|closed/i;

/** Translates gRPC/client failures into DcsUnavailableError; other errors pass through. */
export function translateEtcdError(err: unknown, action: string): Error {
  if (err instanceof SwitchyardError) return err;
  const message = describeError(err);
  if (UNAVAILABLE.test(message) || (err as { name?: string })?.name === 'GRPCUnavailableError') {
    return new DcsUnavailableError(`etcd unavailable while ${action}: ${message}`, { cause: err });
  }
  return new SwitchyardError('SY_ERR_DCS_UNAVAILABLE', `etcd error while ${action}: ${message}`, {
    cause: err,
  });
}
