import { memberLag, type ClusterState, type Member } from '../cluster/index.js';

/** A member as a routing layer sees it: where clients connect and where its REST checks answer. */
export interface RouteServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Patroni REST endpoint, used by HAProxy checks as the second line of defence. */
  readonly api: { readonly host: string; readonly port: number } | null;
}

export interface RouteLeader extends RouteServer {
  /** True once the leader-key holder accepts writes (member key or active probe). */
  readonly isWritable: boolean;
  /** Why it is not writable yet; null when writable. */
  readonly reason: string | null;
  /** mod_revision of the leader key: a new leadership has a new revision. */
  readonly leaderRevision: number;
  /**
   * The router's leader health saw this leadership's PostgreSQL die (its held session ended, or its port
   * refused / timed out) while the key still names it. Writes stay routed by `isWritable`: only targets
   * that can hold clients (PgBouncer's PAUSE) act on it; see docs/design-notes.md, "Leader health".
   */
  readonly isLost: boolean;
  /** Why the leader counts as lost; null when it does not. */
  readonly lostReason: string | null;
}

/** The leader's health in one word, for /status and logs: lost wins over writable. */
export type LeaderHealthState = 'writable' | 'not_writable' | 'lost';

export function leaderHealthState(leader: RouteLeader): LeaderHealthState {
  return leader.isLost ? 'lost' : leader.isWritable ? 'writable' : 'not_writable';
}

/**
 * What the router's leader health (src/router/leader-health/) knows of one leadership (member name and
 * leader-key revision): the writable probe's answer and whether its PostgreSQL was seen dying.
 */
export interface LeaderHealthFact {
  readonly name: string;
  readonly leaderRevision: number;
  /** The writable probe found it accepting writes. */
  readonly isProbedWritable: boolean;
  /** Why it counts as lost (held session ended, connect refused, timeouts); null while alive. */
  readonly lostReason: string | null;
}

export interface RouteView {
  readonly scope: string;
  /** Increases by one on every change of this cluster's view; 0 = never computed. */
  readonly generation: number;
  /** The leader-key holder, or null when no key or its holder has no valid member key. */
  readonly leader: RouteLeader | null;
  /** Eligible for reads: running replicas without `noloadbalance`, lag under the limit. Sorted by name. */
  readonly replicas: readonly RouteServer[];
  /** Every valid member, sorted by name (servers of a listener, for checks and restarts). */
  readonly members: readonly RouteServer[];
  readonly ttl: number;
  readonly isFailsafeMode: boolean;
}

export interface ViewOptions {
  /** Replicas lagging more than this many bytes are not eligible for reads; null = no limit. */
  maxReplicaLagBytes: number | null;
  /**
   * The router's leader health for the current leader (writable probe, liveness). Only used when it names
   * the same leader and leadership (leader-key revision) as the state.
   */
  health?: LeaderHealthFact | undefined;
}

function toServer(m: Member): RouteServer {
  return Object.freeze({
    name: m.name,
    host: m.host,
    port: m.port,
    api: m.api ? { host: m.api.host, port: m.api.port } : null,
  });
}

function writableReason(m: Member): string | null {
  if (m.role === 'standby_leader') return standbyReason(m);
  if (m.role !== 'primary') return `leader ${m.name} reports role ${m.role}, not primary`;
  if (m.state !== 'running') return `leader ${m.name} reports state ${JSON.stringify(m.state)}, not running`;
  return null;
}

/** A standby cluster's leader replicates from another cluster: it is read-only, whatever a probe says. */
function standbyReason(m: Member): string {
  return `leader ${m.name} is the standby_leader of a standby cluster (read-only): reads only, never writes`;
}

/** Read eligibility by role: replicas, and a standby cluster's standby_leader (it serves reads only). */
function isReadRole(m: Member, leaderName: string | undefined): boolean {
  return m.role === 'standby_leader' || (m.role === 'replica' && m.name !== leaderName);
}

/**
 * One leader's facts from its member key and the router's health fact (null: none for this
 * leadership). Pure. A standby_leader is never writable whatever a probe says; a probe that found the
 * server writable overrides a member key still saying otherwise; lost is reported beside writability.
 */
export function judgeLeader(
  m: Member,
  health: LeaderHealthFact | null,
): { isWritable: boolean; reason: string | null; isLost: boolean; lostReason: string | null } {
  let reason = writableReason(m);
  if (m.role !== 'standby_leader' && health?.isProbedWritable) reason = null;
  const lostReason = health?.lostReason ?? null;
  return { isWritable: reason === null, reason, isLost: lostReason !== null, lostReason };
}

/**
 * ClusterState → RouteView, without a generation (the caller numbers views). Pure.
 * Writes are routed only to the leader-key holder, and only once it is writable; a `standby_leader`
 * (the leader of a Patroni standby cluster) is never writable and is eligible for reads instead.
 */
export function computeView(state: ClusterState, options: ViewOptions): Omit<RouteView, 'generation'> {
  const members = [...state.members.values()].sort((a, b) => a.name.localeCompare(b.name));
  let leader: RouteLeader | null = null;
  if (state.leader) {
    const m = state.members.get(state.leader.name);
    if (m) {
      const health = options.health;
      const isSameLeadership =
        health !== undefined && health.name === m.name && health.leaderRevision === state.leader.modRevision;
      leader = Object.freeze({
        ...toServer(m),
        ...judgeLeader(m, isSameLeadership ? health : null),
        leaderRevision: state.leader.modRevision,
      });
    }
  }
  const replicas = members
    .filter((m) => isReadRole(m, state.leader?.name) && m.state === 'running' && !m.isNoLoadBalance)
    .filter((m) => {
      if (options.maxReplicaLagBytes === null) return true;
      const lag = memberLag(state, m);
      // No reference position at all (no /status, no leader): lag cannot be judged, keep serving reads.
      if (lag === null) return m.xlogLocation === null ? false : !hasReference(state);
      return lag <= options.maxReplicaLagBytes;
    })
    .map(toServer);
  return Object.freeze({
    scope: state.scope,
    leader,
    replicas: Object.freeze(replicas),
    members: Object.freeze(members.map(toServer)),
    ttl: state.config.ttl,
    isFailsafeMode: state.config.isFailsafeMode,
  });
}

function hasReference(state: ClusterState): boolean {
  return (
    state.optime !== null ||
    (state.leader !== null && state.members.get(state.leader.name)?.xlogLocation != null)
  );
}

function isSameServer(a: RouteServer, b: RouteServer): boolean {
  return (
    a.name === b.name &&
    a.host === b.host &&
    a.port === b.port &&
    a.api?.host === b.api?.host &&
    a.api?.port === b.api?.port
  );
}

function isSameServers(a: readonly RouteServer[], b: readonly RouteServer[]): boolean {
  return a.length === b.length && a.every((s, i) => isSameServer(s, b[i] as RouteServer));
}

/** Same routing content (generation ignored). Runs on every member-key event: no allocation. */
export function isSameView(a: Omit<RouteView, 'generation'>, b: Omit<RouteView, 'generation'>): boolean {
  if (a.scope !== b.scope || a.ttl !== b.ttl || a.isFailsafeMode !== b.isFailsafeMode) return false;
  if (a.leader === null || b.leader === null) {
    if (a.leader !== b.leader) return false;
  } else if (
    !isSameServer(a.leader, b.leader) ||
    a.leader.isWritable !== b.leader.isWritable ||
    a.leader.reason !== b.leader.reason ||
    a.leader.leaderRevision !== b.leader.leaderRevision ||
    a.leader.isLost !== b.leader.isLost ||
    a.leader.lostReason !== b.leader.lostReason
  ) {
    return false;
  }
  return isSameServers(a.replicas, b.replicas) && isSameServers(a.members, b.members);
}

/** The server writes go to right now, or null (the primary listener stays empty). */
export function writer(view: RouteView): RouteServer | null {
  return view.leader?.isWritable ? view.leader : null;
}
