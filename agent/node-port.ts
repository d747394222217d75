import type { ClusterState } from '../src/cluster/index.js';
import type { ClusterWriter } from '../src/dcs/cluster-writer.js';
import type { NodeView } from './api/view.js';
import type { AgentConfig } from './config/load.js';
import type { Observation } from './observe.js';
import type { PgControl } from './postgres/control.js';
import type { PgQuery } from './postgres/query.js';
import type { TaskStart } from './task.js';
import type { HandoverPrep } from './leadership/handover-prep.js';

/**
 * What the REST API may see and do of a running agent: read-only facts, intent writes to etcd, wake-ups,
 * and long tasks through `startTask`. Narrow on purpose: the API never sets the agent's fields.
 */
export interface AgentPort {
  readonly config: AgentConfig;
  readonly writer: ClusterWriter;
  readonly control: PgControl;
  /** The REST API's own pool (the HA cycle's connection is separate). */
  readonly apiQuery: PgQuery;
  readonly cluster: ClusterState | null;
  readonly obs: Observation | null;
  readonly task: { readonly name: string } | null;
  /** What `POST /switchover` on this leader starts early (CHECKPOINT) and hands on (member answers). */
  readonly handoverPrep: HandoverPrep;
  /** `synchronous_standby_names` the agent wants on a primary. */
  readonly ssn: string;
  view(): NodeView;
  refreshView(): Promise<NodeView>;
  isLeaderNow(): boolean;
  wake(): void;
  onLeaderEvent(ms: number): Promise<void>;
  /** A long task, started between two HA cycles (see `startBetweenCycles`). */
  startTask(name: string, state: string, fn: () => Promise<void>, force?: boolean): Promise<TaskStart>;
  /** A primary told us by POST /failsafe that it is alive, until this time (ms since epoch). */
  noteFailsafeLeaderAlive(until: number): void;
}
