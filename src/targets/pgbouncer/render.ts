import type { LoadedTemplate } from '../../render/template.js';
import { SwitchyardError, describeError } from '../../errors.js';
import type { PgBouncerConfig, PoolOptionValues } from './config.js';
import { buildConnString, checkRenderedIni, type IniDatabase } from './ini.js';

/** Where one PgBouncer database should point. */
export interface Endpoint {
  readonly member: string | null;
  readonly host: string;
  readonly port: number;
}

/** Per cluster: the writer (leader, or the last known route while there is none) and a reader. */
export interface ClusterRoute {
  readonly writer: Endpoint | null;
  /** An eligible replica; null = none. */
  readonly reader: Endpoint | null;
}

export interface EntryInfo {
  readonly name: string;
  readonly cluster: string;
  readonly role: 'primary' | 'replica';
  readonly endpoint: Endpoint;
  readonly dbname: string;
  /** Forced server user (`user=`), or null. */
  readonly user: string | null;
}

export interface RenderedIni {
  readonly text: string;
  readonly entries: readonly EntryInfo[];
  /** True when a password landed in the file (written 0600). */
  readonly hasSecrets: boolean;
}

const POOL_KEYS = ['pool_size', 'min_pool_size', 'reserve_pool', 'max_db_connections', 'pool_mode'] as const;

function poolParams(options: PoolOptionValues): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const key of POOL_KEYS) if (options[key] !== undefined) out.push([key, String(options[key])]);
  return out;
}

/**
 * Renders the routing file for the given cluster routes and checks the result (see `checkRenderedIni`).
 * Pure: no disk, no network. `passwords` maps database name → resolved password.
 * An entry whose cluster has no writer (and no known route) is left out.
 */
export function renderPgBouncerIni(
  config: Pick<PgBouncerConfig, 'mode' | 'databases' | 'settings'>,
  template: LoadedTemplate,
  routes: ReadonlyMap<string, ClusterRoute>,
  passwords: ReadonlyMap<string, string>,
): RenderedIni {
  const ini: IniDatabase[] = [];
  const entries: EntryInfo[] = [];
  const context: Array<Record<string, unknown>> = [];
  let hasSecrets = false;
  const add = (
    name: string,
    cluster: string,
    role: 'primary' | 'replica',
    endpoint: Endpoint,
    extra: Array<[string, string]>,
  ) => {
    const params: Array<[string, string]> = [
      ['host', endpoint.host],
      ['port', String(endpoint.port)],
      ...extra,
    ];
    const entry: IniDatabase = { name, params };
    const connstr = buildConnString(entry);
    const dbname = params.find(([k]) => k === 'dbname')?.[1] ?? name;
    const user = params.find(([k]) => k === 'user')?.[1] ?? null;
    ini.push(entry);
    entries.push({ name, cluster, role, endpoint, dbname, user });
    context.push({
      name,
      cluster,
      role,
      member: endpoint.member,
      host: endpoint.host,
      port: endpoint.port,
      dbname,
      connstr,
    });
  };
  for (const [name, db] of Object.entries(config.databases)) {
    const route = routes.get(db.cluster);
    const auth: Array<[string, string]> = [['dbname', db.dbname ?? name]];
    if (db.user) auth.push(['user', db.user]);
    const password = passwords.get(name);
    if (password !== undefined) {
      auth.push(['password', password]);
      hasSecrets = true;
    }
    if (db.auth_user) auth.push(['auth_user', db.auth_user]);
    if (route?.writer) add(name, db.cluster, 'primary', route.writer, [...auth, ...poolParams(db)]);
    const ro = db.read_only;
    if (ro) {
      const target = route?.reader ?? (ro.when_no_replica === 'leader' ? (route?.writer ?? null) : null);
      if (target)
        add(ro.name, db.cluster, 'replica', target, [
          ...auth,
          ...poolParams({ ...db, ...stripUndefined(ro) }),
        ]);
    }
  }
  let text: string;
  try {
    text = template.render({
      mode: config.mode,
      databases: context,
      settings: Object.entries(config.settings).map(([key, value]) => ({ key, value: String(value) })),
    });
  } catch (err) {
    // compileTemplate already cuts values out of strict-mode errors; nothing of the context is appended here.
    throw err instanceof SwitchyardError
      ? err
      : new SwitchyardError('SY_ERR_RENDER_TEMPLATE', describeError(err));
  }
  const problems = checkRenderedIni(text, ini, { mode: config.mode, allowedIncludes: template.includeCount });
  if (problems.length > 0) {
    throw new SwitchyardError(
      'SY_ERR_RENDER_INVALID',
      `${template.path} rendered an invalid pgbouncer.ini (${problems.slice(0, 3).join('; ')}); kept the live file`,
    );
  }
  return { text, entries, hasSecrets };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
