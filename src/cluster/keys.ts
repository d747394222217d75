/**
 * Patroni's etcd key layout: `/<namespace>/<scope>/<key>`. Only these relative keys exist for etcd3;
 * `members/<name>` has exactly one `/` after the scope prefix.
 */
export const CLUSTER_KEYS = [
  'initialize',
  'config',
  'leader',
  'failover',
  'history',
  'optime/leader',
  'status',
  'sync',
  'failsafe',
] as const;

export type ClusterKey = (typeof CLUSTER_KEYS)[number];

/** `/service` + `app` → `/service/app/`; collapses repeated slashes like Patroni does. */
export function scopePrefix(namespace: string, scope: string): string {
  return `/${namespace}/${scope}/`.replace(/\/+/g, '/');
}

/** `/service` → `/service/`. */
export function namespacePrefix(namespace: string): string {
  return `/${namespace}/`.replace(/\/+/g, '/');
}

export interface SplitKey {
  scope: string;
  /** Key relative to the scope prefix: `leader`, `members/pg1`, ... */
  key: string;
}

/**
 * Splits an absolute etcd key under a namespace into scope and relative key.
 * Returns null for keys outside the layout (MPP groups, unknown names, nested member paths).
 */
export function splitKey(namespace: string, absolute: string): SplitKey | null {
  const prefix = namespacePrefix(namespace);
  if (!absolute.startsWith(prefix)) return null;
  const rest = absolute.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const scope = rest.slice(0, slash);
  const key = rest.slice(slash + 1);
  if (!isLayoutKey(key)) return null;
  return { scope, key };
}

export function isLayoutKey(key: string): boolean {
  if ((CLUSTER_KEYS as readonly string[]).includes(key)) return true;
  if (!key.startsWith('members/')) return false;
  const name = key.slice('members/'.length);
  return name.length > 0 && !name.includes('/');
}

export function memberKey(name: string): string {
  return `members/${name}`;
}
