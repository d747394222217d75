import { etcdConnection, loadRouterConfig } from '../../config/router.js';
import type { EtcdConnection } from '../../dcs/connect.js';
import type { DcsType } from '../../dcs/source.js';
import { SwitchyardError } from '../../errors.js';
import { agentCtlSettings } from '../agent.js';
import { restAuthFrom, type RestAuth, type RestTls } from '../../rest/patroni.js';

/** The global options of `switchyard ctl`, as commander parses them. */
export interface CtlOptions {
  config?: string;
  routerConfig?: string;
  cluster?: string;
  dcsUrl?: string;
  dcsType?: string;
  namespace?: string;
  scope?: string;
  restUsername?: string;
  restPasswordEnv?: string;
  restPasswordFile?: string;
  format: 'pretty' | 'json';
  force?: boolean;
}

/** Which cluster ctl works on and how it reaches the DCS and the members' REST API. */
export interface CtlTarget {
  type: DcsType;
  conn: EtcdConnection;
  namespace: string;
  scope: string;
  auth: RestAuth | undefined;
  /** From patroni.yml's restapi section (as patronictl falls back to it): trust its cafile, present its certificate. */
  tls?: RestTls | undefined;
  /** Where the settings came from, for messages. */
  source: string;
}

const usage =
  'give one of: -c/--config patroni.yml (a node of the cluster), --router-config router.yml ' +
  '[--cluster SCOPE], or --dcs-url http://host:2379 --scope NAME [--namespace /service]';

/** Pure except for reading the named config file and the password file/variable. */
export async function resolveTarget(o: CtlOptions): Promise<CtlTarget> {
  const given = [o.config, o.routerConfig, o.dcsUrl].filter((v) => v !== undefined).length;
  if (given !== 1)
    throw new SwitchyardError('SY_ERR_CONFIG_INVALID', `switchyard ctl: ${usage}`, { exitCode: 2 });
  const flagAuth = restAuthFromFlags(o);
  if (o.config !== undefined) {
    const agent = await agentCtlSettings(o.config);
    return {
      tls: agent.tls,
      type: 'etcd3',
      conn: { ...agent.etcd, requestTimeoutMs: 5000 },
      namespace: agent.namespace,
      scope: o.scope ?? agent.scope,
      auth: flagAuth ?? agent.auth,
      source: o.config,
    };
  }
  if (o.routerConfig !== undefined) {
    const config = loadRouterConfig(o.routerConfig);
    const named = config.clusters.filter((c) => c !== '*');
    const scope =
      o.cluster ?? o.scope ?? (named.length === 1 && !config.clusters.includes('*') ? named[0] : undefined);
    if (!scope)
      throw new SwitchyardError(
        'SY_ERR_CONFIG_INVALID',
        `${config.path} follows ${config.clusters.join(', ')}: name one with --cluster SCOPE`,
        { exitCode: 2 },
      );
    return {
      type: config.dcs.type,
      conn: etcdConnection(config),
      namespace: config.namespace,
      scope,
      auth: flagAuth,
      source: config.path,
    };
  }
  if (!o.scope)
    throw new SwitchyardError(
      'SY_ERR_CONFIG_INVALID',
      `switchyard ctl --dcs-url needs --scope NAME (${usage})`,
      {
        exitCode: 2,
      },
    );
  const type = (o.dcsType ?? 'etcd3') as DcsType;
  if (type !== 'etcd3' && type !== 'etcd')
    throw new SwitchyardError(
      'SY_ERR_CONFIG_INVALID',
      `--dcs-type must be etcd3 (v3 API) or etcd (v2 API), got ${JSON.stringify(o.dcsType)}`,
      { exitCode: 2 },
    );
  return {
    type,
    conn: { hosts: (o.dcsUrl as string).split(',').map((h) => h.trim()), requestTimeoutMs: 5000 },
    namespace: o.namespace ?? '/service',
    scope: o.scope,
    auth: flagAuth,
    source: o.dcsUrl as string,
  };
}

/** `--rest-username` with the password from `--rest-password-env` or `--rest-password-file`. */
export function restAuthFromFlags(o: CtlOptions): RestAuth | undefined {
  return restAuthFrom({
    username: o.restUsername,
    passwordEnv: o.restPasswordEnv,
    passwordFile: o.restPasswordFile,
  });
}
