import type { Command } from 'commander';
import { Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config/load.js';
import type { EtcdConnection } from '../dcs/connect.js';
import { createLogger } from '../log.js';
import type { RestAuth, RestTls } from '../rest/patroni.js';
import { readFileSync } from 'node:fs';

/** What `switchyard ctl -c patroni.yml` takes from a node's agent config (like patronictl does). */
export interface AgentCtlSettings {
  etcd: EtcdConnection;
  namespace: string;
  scope: string;
  auth: RestAuth | undefined;
  /** From the restapi section: trust its cafile, present its certificate. */
  tls: RestTls | undefined;
}

/** Reads a node's patroni.yml for ctl: the one door from `src/` into the agent's config loader. */
export async function agentCtlSettings(file: string): Promise<AgentCtlSettings> {
  const { config } = await loadAgentConfig(file);
  const auth = config.restapi.auth;
  const tls = config.restapi.tls;
  return {
    etcd: config.etcd,
    namespace: config.namespace,
    scope: config.scope,
    auth: auth ? { username: auth.username, password: auth.password ?? '' } : undefined,
    tls: tls?.cafile
      ? {
          ca: readFileSync(tls.cafile),
          cert: readFileSync(tls.certfile),
          key: readFileSync(tls.keyfile ?? tls.certfile),
        }
      : undefined,
  };
}

/**
 * `switchyard agent --config node.yml`: runs the HA agent for one PostgreSQL node from a Patroni YAML file.
 * Invalid configuration ends the command before anything starts (exit 2). SIGTERM/SIGINT stop PostgreSQL,
 * release the leader key and revoke the lease, then the process exits (0, or 1 when stopping failed) without
 * waiting for the etcd client's timers; a second signal exits at once. SIGHUP reloads the YAML.
 */
export function register(program: Command): void {
  program
    .command('agent')
    .description("run the compact Patroni-compatible HA agent for this node's PostgreSQL")
    .requiredOption('-c, --config <file>', 'Patroni YAML (patroni.yml) of this node')
    .option('--check', 'validate the configuration, print warnings, and exit')
    .action(async (options: { config: string; check?: boolean }) => {
      const { config, warnings } = await loadAgentConfig(options.config);
      const log = createLogger({ name: `agent:${config.name}` });
      for (const w of warnings) log.warn(w);
      if (options.check) {
        process.stdout.write(
          `${options.config}: valid (${warnings.length} warning${warnings.length === 1 ? '' : 's'})\n`,
        );
        return;
      }
      const agent = new Agent(config, log);
      // Node's default for SIGHUP is to exit; like Patroni, it re-reads the YAML instead.
      process.on('SIGHUP', () => void agent.reloader.reload());
      await agent.start();
      log.info(
        { api: `${config.restapi.listenHost}:${config.restapi.listenPort}`, scope: config.scope },
        'agent started',
      );
      const code = await new Promise<number>((resolve) => {
        let stopping = false;
        const onSignal = (signal: NodeJS.Signals) => {
          if (stopping) process.exit(130);
          stopping = true;
          log.info({ signal }, 'stopping: PostgreSQL, leader key, lease');
          agent.stop().then(
            () => resolve(0),
            (err: unknown) => {
              log.error({ err: String(err) }, 'stop failed');
              resolve(1);
            },
          );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      // stop() is complete (PostgreSQL stopped, key and lease released or given up on): exit now. With etcd
      // unreachable, the etcd client's retry timers and sockets would otherwise keep Node alive ~30 s more.
      log.flush();
      process.exit(code);
    });
}
