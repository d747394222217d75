import type { ClusterState } from '../src/cluster/index.js';
import type { AgentConfig } from './config/load.js';
import { failoverCandidate } from './ha/manual.js';
import type { PeerStatus } from './ha/types.js';
import type { Observation } from './observe.js';
import { confirmFailsafe, probePeers } from './peers.js';

/** What the decision needs from the other members this cycle. */
export interface PeerFacts {
  readonly peers: ReadonlyMap<string, PeerStatus>;
  /** etcd is down and every member in `/failsafe` accepted our POST /failsafe. */
  readonly failsafeAllAccepted: boolean;
}

/**
 * Asks the other members only when the decision needs them: the leader race, the leader's handling of a
 * manual failover (the named candidate of a switchover takes the released key without asking), and the failsafe round of a
 * primary while etcd is unreachable (`cluster` null, `known` the last cluster read). `recentPeers` gives
 * the answers a switchover request on this leader was checked against moments ago, if any.
 */
export async function gatherPeerFacts(
  config: AgentConfig,
  cluster: ClusterState | null,
  known: ClusterState | null,
  obs: Observation,
  recentPeers: () => ReadonlyMap<string, PeerStatus> | null = () => null,
): Promise<PeerFacts> {
  const isNamedCandidate =
    cluster?.leader === null &&
    cluster.failover !== null &&
    failoverCandidate(cluster.failover) === config.name;
  // While a leader holds the key only it acts on `/failover`: a replica asking the members then would
  // only hold up its own cycle (the leader may be shutting down) and miss the moment the key is released.
  const needsPeers =
    cluster !== null &&
    !isNamedCandidate &&
    (cluster.leader === null || (cluster.failover !== null && cluster.leader.name === config.name));
  // The leader handling `/failover` may decide on the answers its own `POST /switchover` just got from the
  // same members (see HandoverPrep); a race always asks now.
  const isLeaderHandover = needsPeers && cluster.leader !== null;
  const peers = needsPeers
    ? ((isLeaderHandover ? recentPeers() : null) ?? (await probePeers(cluster, config.name)))
    : new Map<string, PeerStatus>();
  let failsafeAllAccepted = false;
  // A running postmaster whose role the query could not tell counts as a primary here (never less safe).
  const mayBePrimary = obs.local.isRunning && obs.local.isInRecovery !== true;
  if (!cluster && known?.config.isFailsafeMode && known.failsafe && mayBePrimary) {
    const pg = config.postgresql;
    failsafeAllAccepted = await confirmFailsafe(
      known.failsafe,
      {
        name: config.name,
        connUrl: `postgres://${pg.connectHost}:${pg.connectPort}/${pg.database}`,
        apiUrl: `http://${config.restapi.connectAddress}/patroni`,
      },
      config.restapi.auth,
      known.members,
    );
  }
  return { peers, failsafeAllAccepted };
}
