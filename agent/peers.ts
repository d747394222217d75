import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, fetch as undiciFetch } from 'undici';
import type { ClusterState, Member } from '../src/cluster/index.js';
import type { Credentials, RestApiTls } from './config/load.js';
import type { PeerStatus } from './ha/types.js';

const TIMEOUT_MS = 2000;

let dispatcher: HttpsAgent | undefined;

/**
 * Requests to other members' REST APIs trust `restapi.cafile` and present this node's certificate
 * (Patroni does the same), so a cluster with a private CA can ask its peers over HTTPS.
 */
export function configurePeerTls(tls: RestApiTls | null): void {
  dispatcher = tls?.cafile
    ? new HttpsAgent({
        connect: {
          ca: readFileSync(tls.cafile),
          cert: readFileSync(tls.certfile),
          key: readFileSync(tls.keyfile ?? tls.certfile),
          ...(tls.keyfilePassword !== undefined ? { passphrase: tls.keyfilePassword } : {}),
        },
      })
    : undefined;
}

type PeerRequest = { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal };

/** fetch() to a member's REST API, over TLS with the trust set by `configurePeerTls`. */
export function request(url: string, init: PeerRequest = {}) {
  return dispatcher ? undiciFetch(url, { ...init, dispatcher }) : fetch(url, init);
}

/** `host:port` of a URL, or null when it is not an http(s) URL. */
function origin(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.host : null;
  } catch {
    return null;
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Reads another node's `GET /patroni` document the way Patroni's leader race does. Pure. */
export function peerFromDocument(member: Member, doc: Record<string, unknown>): PeerStatus {
  const xlog = (doc['xlog'] ?? {}) as Record<string, unknown>;
  const role = doc['role'];
  const isPrimary = xlog['location'] !== undefined || role === 'master' || role === 'primary';
  const priority = member.tags['failover_priority'];
  return {
    name: member.name,
    isReachable: true,
    isInRecovery: !isPrimary,
    walPosition: isPrimary
      ? num(xlog['location'])
      : Math.max(num(xlog['received_location']), num(xlog['replayed_location'])),
    timeline: typeof doc['timeline'] === 'number' ? doc['timeline'] : null,
    isNoFailover: member.isNoFailover,
    failoverPriority: typeof priority === 'number' ? priority : 1,
    state: typeof doc['state'] === 'string' ? doc['state'] : 'unknown',
  };
}

const unreachable = (m: Member): PeerStatus => ({
  name: m.name,
  isReachable: false,
  isInRecovery: true,
  walPosition: 0,
  timeline: null,
  isNoFailover: m.isNoFailover,
  failoverPriority: 1,
  state: 'unknown',
});

/** Asks every other member with an `api_url` for `GET /patroni`, in parallel, 2 s each. */
export async function probePeers(cluster: ClusterState, self: string): Promise<Map<string, PeerStatus>> {
  const others = [...cluster.members.values()].filter((m) => m.name !== self && m.api);
  const results = await Promise.all(
    others.map(async (m) => {
      try {
        const res = await request(m.api!.url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        const doc = (await res.json()) as Record<string, unknown>;
        return peerFromDocument(m, doc);
      } catch {
        return unreachable(m);
      }
    }),
  );
  return new Map(results.map((p) => [p.name, p]));
}

/**
 * Failsafe check while etcd is down (Patroni's `check_failsafe_topology`): POST /failsafe to every other
 * member listed in `/failsafe`; true only when all answer 200. The `/failsafe` key is untrusted: REST
 * credentials go only to a URL whose host:port is the `api_url` of a known member of that name.
 */
export async function confirmFailsafe(
  failsafe: Readonly<Record<string, string>>,
  self: { name: string; connUrl: string; apiUrl: string },
  auth: Credentials | null,
  members: ReadonlyMap<string, Member> = new Map(),
): Promise<boolean> {
  if (!(self.name in failsafe)) return false;
  const base: Record<string, string> = { 'Content-Type': 'application/json' };
  const withAuth: Record<string, string> = { ...base };
  if (auth)
    withAuth['Authorization'] =
      `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
  const body = JSON.stringify({ name: self.name, conn_url: self.connUrl, api_url: self.apiUrl });
  const targets = Object.entries(failsafe).filter(([n]) => n !== self.name);
  const answers = await Promise.all(
    targets.map(async ([name, url]) => {
      const target = url.replace(/\/patroni$/, '/failsafe');
      const known = members.get(name)?.api?.url;
      const isKnownHost = known !== undefined && origin(known) !== null && origin(known) === origin(target);
      const headers = isKnownHost ? withAuth : base;
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const res = await request(target, {
            method: 'POST',
            headers,
            body,
            signal: AbortSignal.timeout(TIMEOUT_MS),
          });
          await res.arrayBuffer();
          if (res.status === 200) return true;
        } catch {
          // one retry, like Patroni
        }
      }
      return false;
    }),
  );
  return answers.every(Boolean);
}
