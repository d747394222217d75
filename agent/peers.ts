import { readFileSync } from 'node:fs';
import type { ClusterState, Member } from '../src/cluster/index.js';
import { PatroniRest } from '../src/rest/patroni.js';
import type { Credentials, RestApiTls } from './config/load.js';
import type { PeerStatus } from './ha/types.js';

const TIMEOUT_MS = 2000;

let rest = new PatroniRest({ timeoutMs: TIMEOUT_MS });

/**
 * Requests to other members' REST APIs trust `restapi.cafile` and present this node's certificate
 * (Patroni does the same), so a cluster with a private CA can ask its peers over HTTPS.
 */
export function configurePeerTls(tls: RestApiTls | null): void {
  const previous = rest;
  rest = new PatroniRest({
    timeoutMs: TIMEOUT_MS,
    tls: tls?.cafile
      ? {
          ca: readFileSync(tls.cafile),
          cert: readFileSync(tls.certfile),
          key: readFileSync(tls.keyfile ?? tls.certfile),
          passphrase: tls.keyfilePassword,
        }
      : undefined,
  });
  void previous.close().catch(() => undefined);
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
        const answer = await rest.request(m.api!.url, 'GET', '/patroni');
        const doc = JSON.parse(answer.body) as Record<string, unknown>;
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
  const body = { name: self.name, conn_url: self.connUrl, api_url: self.apiUrl };
  const targets = Object.entries(failsafe).filter(([n]) => n !== self.name);
  const answers = await Promise.all(
    targets.map(async ([name, url]) => {
      const known = members.get(name)?.api?.url;
      const isKnownHost = known !== undefined && origin(known) !== null && origin(known) === origin(url);
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const answer = await rest.request(url, 'POST', '/failsafe', {
            body,
            auth: isKnownHost && auth ? { username: auth.username, password: auth.password ?? '' } : null,
          });
          if (answer.status === 200) return true;
        } catch {
          // one retry, like Patroni
        }
      }
      return false;
    }),
  );
  return answers.every(Boolean);
}
