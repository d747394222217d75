import { memberLag, type ClusterState } from '../cluster/index.js';
import type { SourceHealth } from '../dcs/source.js';
import { leaderHealthState, type RouteView } from '../route/view.js';
import type { RunnerStatus } from './runner.js';
import { snakeKeys } from './snake-case.js';
import type { TimelineStep } from './timeline.js';

/** What the router knows at one moment, as `buildStatus` needs it. */
export interface StatusInput {
  now: number;
  clusters: ReadonlyMap<string, { state: ClusterState; view: RouteView }>;
  /** Why a cluster's leader cannot be held by the leader health (login refused); null when it can. */
  holdProblem?: (scope: string) => string | null;
  targets: Record<string, RunnerStatus & Record<string, unknown>>;
  dcs: SourceHealth;
  hasSynced: boolean;
  isFailedClosed: boolean;
  /** The latest snapshot's generation. */
  generation: number;
  last: string;
  timeline: TimelineStep[];
}

/**
 * One target in `/status`: the runner's fields plus what the target adds, every key in snake_case
 * (`snakeKeys` converts the camelCase TypeScript names at this boundary).
 */
export interface TargetStatusJson extends Record<string, unknown> {
  kind: string;
  applied_generation: number;
  last_apply_ms: number | null;
  last_applied_at: number | null;
  last_summary: string | null;
  last_error: string | null;
  consecutive_failures: number;
}

/** The `/status` document. Every key is snake_case (a test checks it with every target kind present). */
export interface RouterStatus {
  healthy: boolean;
  reasons: string[];
  last: string;
  generation: number;
  dcs: {
    connected: boolean;
    seconds_since_contact: number | null;
    last_error: string | null;
    revision: number;
    resyncs: number;
    failed_closed: boolean;
  };
  clusters: Record<string, unknown>;
  targets: Record<string, TargetStatusJson>;
  /** The last leader changes, newest first: key change → writable → every target applied. */
  timeline: TimelineStep[];
}

/** One cluster in `/status`. */
export type ClusterStatus = ReturnType<typeof clusterStatus>;

/** The part of a `/status` cluster that `switchyard status` and the status page read (`nodes` optional). */
export type ClusterStatusRead = Pick<
  ClusterStatus,
  'leader' | 'writable' | 'reason' | 'writer' | 'replicas' | 'generation' | 'invalid'
> &
  Partial<Pick<ClusterStatus, 'nodes' | 'health' | 'lost_reason'>>;

/** One line on the leader's state for `switchyard status` and the page: lost beats not writable. */
export function leaderNote(c: ClusterStatusRead): string {
  if (c.health === 'lost') return `leader lost: ${c.lost_reason ?? ''}`;
  return c.writable ? '' : (c.reason ?? '');
}

function clusterStatus(
  c: { state: ClusterState; view: RouteView },
  isFailedClosed: boolean,
  holdProblem: string | null,
) {
  const leader = c.view.leader;
  return {
    leader: leader?.name ?? null,
    writable: leader?.isWritable ?? false,
    reason: leader ? leader.reason : 'no leader key',
    /** The leader health's one word: writable, not_writable, lost (null: no leader). */
    health: leader ? leaderHealthState(leader) : null,
    lost_reason: leader?.lostReason ?? null,
    hold_problem: holdProblem,
    writer: leader?.isWritable && !isFailedClosed ? `${leader.host}:${leader.port}` : null,
    replicas: c.view.replicas.map((r) => r.name),
    members: c.view.members.map((m) => m.name),
    nodes: [...c.state.members.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => ({
        name: m.name,
        role: m.role,
        state: m.state,
        host: m.host,
        port: m.port,
        lag_bytes: memberLag(c.state, m),
        timeline: m.timeline,
      })),
    generation: c.view.generation,
    ttl: c.view.ttl,
    failsafe_mode: c.view.isFailsafeMode,
    invalid: c.state.invalid.map((i) => ({ key: i.key, reason: i.reason })),
  };
}

/** `/status` and `/health` from the router's state. Pure: healthy = etcd read and every target current. */
export function buildStatus(input: StatusInput): RouterStatus {
  const { dcs, isFailedClosed, generation } = input;
  const reasons: string[] = [];
  if (!dcs.isConnected) reasons.push(`etcd unreachable: ${dcs.lastError ?? 'no successful read yet'}`);
  for (const [scope, c] of input.clusters) {
    if (isFailedClosed) continue;
    if (!c.view.leader) reasons.push(`${scope}: no leader key (writes are not routed)`);
    else if (c.view.leader.isLost)
      reasons.push(`${scope}: leader ${c.view.leader.name} lost: ${c.view.leader.lostReason ?? ''}`);
    else if (!c.view.leader.isWritable)
      reasons.push(`${scope}: leader ${c.view.leader.name} not writable: ${c.view.leader.reason ?? ''}`);
  }
  if (isFailedClosed)
    reasons.push('routing no writes: etcd unreachable for longer than the ttl (fail_closed)');
  for (const [name, t] of Object.entries(input.targets)) {
    if (t.appliedGeneration < generation)
      reasons.push(
        t.lastError
          ? `${name}: ${t.lastError}`
          : `${name}: applying generation ${generation} (at ${t.appliedGeneration})`,
      );
  }
  return {
    healthy: reasons.length === 0 && input.hasSynced,
    reasons: input.hasSynced ? reasons : ['waiting for the first etcd read', ...reasons],
    last: input.last,
    generation,
    dcs: {
      connected: dcs.isConnected,
      seconds_since_contact:
        dcs.lastContactAt === null ? null : Math.round((input.now - dcs.lastContactAt) / 100) / 10,
      last_error: dcs.lastError,
      revision: dcs.revision,
      resyncs: dcs.resyncs,
      failed_closed: isFailedClosed,
    },
    clusters: Object.fromEntries(
      [...input.clusters].map(([scope, c]) => [
        scope,
        clusterStatus(c, isFailedClosed, input.holdProblem?.(scope) ?? null),
      ]),
    ),
    targets: Object.fromEntries(
      Object.entries(input.targets).map(([name, t]) => [name, snakeKeys(t) as TargetStatusJson]),
    ),
    timeline: input.timeline,
  };
}
