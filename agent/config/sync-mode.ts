import type { ClusterState } from '../../src/cluster/index.js';

/** `synchronous_mode` as the HA logic reads it: off, classic (Patroni's `on`), or Patroni 4's quorum. */
export type SyncMode = boolean | 'quorum';

/** The stable code logged with a refused `synchronous_mode: quorum`. */
export const SYNC_MODE_ERROR_CODE = 'SY_ERR_CONFIG_INVALID';

/**
 * `synchronous_mode` from `/config`, with quorum commit refused. The agent implements Patroni's classic
 * synchronous replication only; a leader that ran the classic steps under `quorum` would write a `/sync`
 * and `synchronous_standby_names` that Patroni 4 members read as a quorum promise nobody keeps. So a
 * `quorum` value is refused like an invalid timing: the last value this agent accepted from `/config`
 * (on or off) stays in force, and one error naming the key is logged per change. With no earlier value
 * (the agent joined a cluster already in quorum mode) the mode stays `quorum`, which the HA logic treats
 * as unsupported: a leader leaves `synchronous_standby_names` and `/sync` as they are (it neither claims
 * synchronous standbys nor drops the ones Patroni set), a replica does not race for the leader key.
 * bootstrap.dcs never counts as a last good value: it says nothing about the running cluster.
 */
export class SyncModeKeeper {
  #lastGood: boolean | null = null;
  #reported = false;

  constructor(private readonly log: { error(obj: object, msg: string): void }) {}

  /** The mode to act on for a `/config` value `mode`. */
  offer(mode: SyncMode): SyncMode {
    if (mode !== 'quorum') {
      this.#lastGood = mode;
      this.#reported = false;
      return mode;
    }
    if (!this.#reported) {
      this.#reported = true;
      const kept =
        this.#lastGood === null
          ? 'no earlier value to keep: as leader this node leaves synchronous_standby_names and /sync unchanged, as replica it does not take part in a failover'
          : `keeping synchronous_mode ${this.#lastGood ? 'on' : 'off'}, the last value accepted from /config`;
      this.log.error(
        { code: SYNC_MODE_ERROR_CODE, key: 'synchronous_mode' },
        `config key synchronous_mode: expected true, false, 'on' or 'off', found 'quorum' (Patroni 4's quorum commit is not implemented by the agent); refused, ${kept}`,
      );
    }
    return this.#lastGood ?? 'quorum';
  }

  /** `cluster` with its synchronous_mode replaced by the mode to act on (unchanged when `/config` is unset). */
  apply(cluster: ClusterState): ClusterState {
    if (cluster.config.modRevision === null) return cluster;
    const mode = this.offer(cluster.config.synchronousMode);
    return mode === cluster.config.synchronousMode
      ? cluster
      : { ...cluster, config: { ...cluster.config, synchronousMode: mode } };
  }
}
