import type { Etcd3 } from 'etcd3';
import type { ClusterState } from '../../src/cluster/index.js';
import { connectEtcd } from '../../src/dcs/connect.js';
import { ClusterWriter } from '../../src/dcs/cluster-writer.js';
import { SwitchyardError } from '../../src/errors.js';
import type { AgentConfig } from '../config/load.js';
import { configurePeerTls, request } from '../peers.js';

export interface RestAnswer {
  status: number;
  body: string;
}

/** What `switchyard ctl` talks to: the DCS directly for reads and config edits, members' REST for actions. */
export class CtlClient {
  private constructor(
    readonly config: AgentConfig,
    private readonly client: Etcd3,
    readonly writer: ClusterWriter,
  ) {}

  static async open(config: AgentConfig): Promise<CtlClient> {
    // Like patronictl falling back to the restapi section: trust its cafile, present its certificate.
    configurePeerTls(config.restapi.tls);
    const client = await connectEtcd({ ...config.etcd, requestTimeoutMs: 5000 });
    return new CtlClient(config, client, new ClusterWriter(client, config.namespace, config.scope, 5000));
  }

  async read(): Promise<ClusterState> {
    return (await this.writer.read()).state;
  }

  /** REST call to a member's API (`api_url` base), with the configured basic auth; 30 s bound. */
  async rest(
    cluster: ClusterState,
    member: string,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
  ): Promise<RestAnswer> {
    const m = cluster.members.get(member);
    if (!m?.api) throw new SwitchyardError('SY_ERR_AGENT', `member ${member} has no REST API URL in the DCS`);
    const base = m.api.url.replace(/\/patroni$/, '');
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const auth = this.config.restapi.auth;
    if (auth)
      headers['Authorization'] =
        `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
    try {
      const res = await request(`${base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      throw new SwitchyardError(
        'SY_ERR_AGENT',
        `${method} ${base}${path} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  close(): void {
    this.client.close();
  }
}
