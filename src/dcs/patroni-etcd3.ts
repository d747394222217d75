import { z } from 'zod';
import type { EtcdConnection } from './connect.js';

/**
 * The `etcd3:` section of a Patroni YAML (`hosts` as a list or "h:p,h:p", or `host`; `protocol`, basic
 * auth, TLS files), read by the agent's loader and by `switchyard before-stop`. Other keys pass through.
 */
export const PatroniEtcd3Schema = z
  .object({
    hosts: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]).optional(),
    host: z.string().min(1).optional(),
    protocol: z.enum(['http', 'https']).optional(),
    username: z.string().optional(),
    password: z.union([z.string(), z.number()]).transform(String).optional(),
    cacert: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
  })
  .passthrough();

export type PatroniEtcd3 = z.infer<typeof PatroniEtcd3Schema>;

/** What the section lacks to reach etcd, as `etcd3.<key>: …` sentences (empty when usable). */
export function patroniEtcd3Problems(e: PatroniEtcd3): string[] {
  const out: string[] = [];
  if (!e.hosts && !e.host) out.push('etcd3.hosts: required (a list or "host:port,host:port")');
  if (e.username !== undefined && e.password === undefined)
    out.push('etcd3.password: required when etcd3.username is set');
  return out;
}

/** The connection the section describes (TLS when `protocol: https` or a `cacert` is given). */
export function etcdConnectionOf(e: PatroniEtcd3): EtcdConnection {
  const hosts = e.hosts ?? e.host ?? '';
  const hostList = (Array.isArray(hosts) ? hosts : hosts.split(',')).map((h) => h.trim()).filter(Boolean);
  const isTls = e.protocol === 'https' || e.cacert !== undefined;
  return {
    hosts: hostList.map((h) => (isTls && !/^https?:\/\//.test(h) ? `https://${h}` : h)),
    username: e.username,
    password: e.password,
    tls: isTls ? { ca: e.cacert, cert: e.cert, key: e.key } : undefined,
  };
}
