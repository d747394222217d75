// Writes docs/configuration.md from the zod schemas of router.yml (every target's schema included).
//   node --import tsx scripts/gen-config-docs.ts          rewrite docs/configuration.md
//   node --import tsx scripts/gen-config-docs.ts --check  exit 1 when it is stale
// Descriptions come from `.describe()` texts, else from the /** JSDoc */ comment on the key in the schema
// source (matched by key name and the keys beside it), so the reference follows the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';
import { routerConfigSchema } from '../src/config/router.js';
import { TARGET_FACTORIES } from '../src/targets/index.js';

const root = new URL('../', import.meta.url);
export const DOC_PATH = fileURLToPath(new URL('docs/configuration.md', root));

/** Examples for keys that have neither a default nor a fixed set of values. */
const EXAMPLES: Record<string, unknown> = {
  'dcs.hosts': ['10.0.0.11:2379', '10.0.0.12:2379', '10.0.0.13:2379'],
  'dcs.username': 'switchyard',
  'dcs.tls.ca': '/etc/switchyard/etcd-ca.pem',
  'dcs.tls.cert': '/etc/switchyard/etcd-client.pem',
  'dcs.tls.key': '/etc/switchyard/etcd-client-key.pem',
  clusters: ['app'],
  'haproxy.output': '/etc/haproxy/haproxy.cfg',
  'haproxy.template': 'my-haproxy.cfg.hbs',
  'haproxy.reload': 'systemctl reload haproxy',
  'haproxy.runtime_api': '/run/haproxy/admin.sock',
  'haproxy.state_file': '/var/lib/haproxy/server-state',
  'haproxy.frontends.<name>.primary': '127.0.0.1:5000',
  'haproxy.frontends.<name>.replicas': '127.0.0.1:5001',
  'pgbouncer.output': '/etc/pgbouncer/switchyard-databases.ini',
  'pgbouncer.template': 'my-databases.ini.hbs',
  'pgbouncer.owner': 'postgres',
  'pgbouncer.check': '/usr/local/bin/check-ini {{file}}',
  'pgbouncer.settings': { listen_port: 6432, auth_type: 'scram-sha-256' },
  'pgbouncer.databases.<name>.cluster': 'app',
  'pgbouncer.databases.<name>.dbname': 'app',
  'pgbouncer.databases.<name>.user': 'app',
  'pgbouncer.databases.<name>.auth_user': 'pgbouncer_auth',
  'pgbouncer.databases.<name>.read_only.name': 'app_ro',
  'pgbouncer.reload.command': 'systemctl reload pgbouncer',
  'pgcat.output': '/etc/pgcat/pgcat.toml',
  'pgcat.template': 'my-pgcat.toml.hbs',
  'pgcat.owner': 'pgcat',
  'pgcat.check': '/usr/local/bin/check-toml {{file}}',
  'pgcat.general.admin.username': 'pgcat',
  'pgcat.general.settings': { connect_timeout: 5000 },
  'pgcat.pools.<name>.cluster': 'app',
  'pgcat.pools.<name>.database': 'app',
  'pgcat.pools.<name>.users': [{ username: 'app', password_env: 'APP_PASSWORD', pool_size: 20 }],
  'pgcat.pools.<name>.users[].username': 'app',
  'pgcat.pools.<name>.users[].min_pool_size': 2,
  'pgcat.pools.<name>.users[].statement_timeout': 0,
  'pgcat.pools.<name>.settings': { load_balancing_mode: 'random' },
  'pgcat.reload.pid': 4242,
  'pgcat.reload.pidfile': '/run/pgcat/pgcat.pid',
  'pgcat.reload.command': 'systemctl reload pgcat',
  'pgcat.console.port': 6432,
  'pgcat.verify': true,
  'vip.address': '10.0.0.100/24',
  'vip.interface': 'eth0',
  'vip.label': 'eth0:pgvip',
  'vip.cluster': 'app',
  'vip.member': 'pg1',
};
/** Descriptions for keys whose schema carries no comment (by the same short key as EXAMPLES). */
const DESCRIPTIONS: Record<string, string> = {
  'dcs.type':
    "Which etcd API Patroni uses, named like Patroni's YAML sections: `etcd3` (v3) or `etcd` (v2, needs `--enable-v2`; see docs/dcs.md).",
  'dcs.hosts': 'etcd client endpoints, as a list or one comma-separated string.',
  'dcs.username': 'etcd user (with a password) when etcd auth is on.',
  'dcs.tls': 'TLS to etcd; `cert` and `key` (client certificate) must be given together.',
  'dcs.tls.ca': 'CA bundle that signed the etcd server certificates.',
  'dcs.tls.cert': 'Client certificate.',
  'dcs.tls.key': 'Client certificate key.',
  'dcs.request_timeout_ms': 'Deadline of one etcd request.',
  'dcs.check_interval_ms':
    'How often the etcd connection is checked (a stable leader key produces no events).',
  namespace: "Patroni's `namespace`.",
  clusters: 'Scopes to follow; `["*"]` alone follows every scope under the namespace.',
  'api.listen':
    'Address of the HTTP API (`/health`, `/ready`, `/status`, `/metrics`); port 0 picks a free port. No other listener may use it.',
  'routing.max_replica_lag':
    'Replicas lagging more than this get no reads: bytes or a size like `1MB` (base 1024); `null` = no limit.',
  'routing.on_dcs_loss':
    '`keep`: keep the last routes while etcd is unreachable; `fail_closed`: withdraw writes once etcd has been gone for the cluster ttl.',
  'routing.writable_probe':
    'How the router learns that a new leader accepts writes before routing writes to it.',
  'routing.writable_probe.method':
    "`auto`: `sql` when a password is configured, else `rest`; `member`: the leader's member key says running + primary; `sql`: `pg_is_in_recovery()` is false; `rest`: `GET /patroni` reports role primary and state running (Patroni takes the role from `pg_is_in_recovery()` on each request; no login needed).",
  'routing.writable_probe.interval_ms': 'Pause between probes of a new leader.',
  'routing.writable_probe.timeout_ms':
    'How long a new leader is probed before the probe gives up (its member key can still mark it writable).',
  'routing.writable_probe.user': 'PostgreSQL user of the `sql` probe.',
  'routing.writable_probe.dbname': 'Database of the `sql` probe.',
  'log.level': 'Least severe level logged.',
  'haproxy.output':
    'The HAProxy config file Switchyard writes (validated on a staged copy, fsynced, renamed).',
  'haproxy.template': 'Handlebars template; default `templates/haproxy.cfg.hbs`.',
  'haproxy.check': 'Validates the staged file (`{{file}}` = its path); `null` = no check.',
  'haproxy.reload':
    'Command that reloads HAProxy after the file changed structurally; `null` = never reload.',
  'haproxy.command_timeout_ms': 'Deadline of the check and reload commands.',
  'haproxy.hard_stop_after':
    "HAProxy's `hard-stop-after`: how long old workers keep sessions after a reload.",
  'haproxy.maxconn': "HAProxy's global `maxconn`.",
  'haproxy.timeouts': 'HAProxy `timeout connect/client/server/check` in the defaults section.',
  'haproxy.checks': "Patroni REST health checks kept on every server (HAProxy's own safety net).",
  'haproxy.checks.primary': 'Check path of the read-write listener.',
  'haproxy.checks.replicas': 'Check path of the read-only listener.',
  'haproxy.checks.inter': 'Check interval.',
  'haproxy.checks.fall': 'Failed checks before a server is marked down.',
  'haproxy.checks.rise': 'Passed checks before a server is marked up.',
  'haproxy.frontends': 'Listeners per cluster scope.',
  'haproxy.frontends.<name>.primary': 'Bind address of the read-write listener (the writable leader only).',
  'haproxy.frontends.<name>.replicas': 'Bind address of the read-only listener (eligible replicas).',
  'pgbouncer.databases.<name>.auth_user': 'PgBouncer `auth_user` of the entry.',
  'pgbouncer.admin': "PgBouncer's admin console (PAUSE, RELOAD, SHOW DATABASES, RESUME).",
  'pgbouncer.admin.port': 'Port of the admin console.',
  'pgbouncer.admin.user': 'A user listed in `admin_users`.',
  'pgbouncer.reload.command': 'Reload command with `method: command`.',
  'pgbouncer.liveness.enabled': 'Deprecated: `routing.leader_health.enabled`.',
  'pgbouncer.liveness.interval_ms': 'Deprecated: `routing.leader_health.interval_ms`.',
  'pgbouncer.liveness.timeout_ms': 'Deprecated: `routing.leader_health.timeout_ms`.',
  'pgbouncer.liveness.failures': 'Deprecated: `routing.leader_health.failures`.',
  'pgbouncer.timeouts.connect_ms': 'Connecting to the admin console.',
  'pgcat.output': 'The `pgcat.toml` Switchyard writes.',
  'pgcat.template': 'Handlebars template; default `templates/pgcat.toml.hbs`.',
  'pgcat.owner': 'Owner of the written file, `user` or `user:group`.',
  'pgcat.general': "pgcat's `[general]` table.",
  'pgcat.general.host': 'Listen address of pgcat.',
  'pgcat.general.port': 'Listen port of pgcat (its admin console is on the same port).',
  'pgcat.general.admin': "pgcat's admin credentials (`admin_username`, `admin_password`).",
  'pgcat.general.admin.username': 'Admin user name.',
  'pgcat.general.settings': 'Other `[general]` keys, written as given.',
  'pgcat.pools': 'pgcat pools by name.',
  'pgcat.pools.<name>.pool_mode': "The pool's `pool_mode`.",
  'pgcat.pools.<name>.users': 'Users of the pool.',
  'pgcat.pools.<name>.users[].username': 'User name (also the server user).',
  'pgcat.pools.<name>.users[].statement_timeout': "pgcat's per-user `statement_timeout` (ms).",
  'pgcat.pools.<name>.settings': 'Other keys of the pool table, written as given.',
  'pgcat.reload': 'How pgcat is told to re-read its file.',
  'pgcat.reload.pid': 'pgcat pid with `method: signal`.',
  'pgcat.reload.pidfile': 'File holding the pgcat pid with `method: signal`.',
  'pgcat.reload.command': 'Reload command with `method: command`.',
  'pgcat.console.host': 'Host of the admin console.',
  'pgcat.console.port': 'Port of the admin console (default: `general.port`).',
  'pgcat.timeouts.connect_ms': 'Connecting to the admin console.',
  'pgcat.timeouts.command_ms': 'One admin command.',
  'vip.announce':
    'Gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6) after taking the VIP.',
  'vip.announce.python_command': 'Python 3 interpreter of the resident ARP helper.',
  'vip.arping': 'The `arping` program used for IPv4 announcements when the helper is not used.',
  'vip.arping.command': 'Path or name of `arping`.',
  'vip.ndptool': 'IPv6 unsolicited neighbour advertisements (libndp-tools).',
  'vip.ndptool.command': 'Path or name of `ndptool`.',
  'vip.ip_command': 'Path or name of iproute2 `ip`.',
  'vip.duplicate_probe': 'Before taking the VIP, ask the link whether another host still answers for it.',
  'vip.handover': 'Before adding an IPv4 VIP, wait until the previous holder has dropped it (ARP probes).',
  'vip.duplicate_probe.enabled': 'Probe before taking.',
};
/** Descriptions of keys that recur in several sections, by their last name. */
const LEAF_DESCRIPTIONS: Record<string, string> = {
  password: 'Secret given inline.',
  password_env: 'Name of the environment variable holding the secret.',
  password_file: 'File whose first line is the secret.',
  pool_size: 'Pool size.',
  min_pool_size: 'Minimum pool size.',
  reserve_pool: 'PgBouncer `reserve_pool`.',
  max_db_connections: 'PgBouncer `max_db_connections`.',
  pool_mode: 'Pool mode of the entry.',
  read_only: 'A second, read-only entry routed to an eligible replica.',
  timeouts: 'Deadlines.',
  liveness: "Watch of the routed leader's PostgreSQL port.",
};
const SECRET_EXAMPLES: Record<string, unknown> = {
  password: 'change-me',
  password_env: 'PGPASSWORD',
  password_file: '/etc/switchyard/secret',
};
const POOL_EXAMPLES: Record<string, unknown> = {
  pool_size: 20,
  min_pool_size: 2,
  reserve_pool: 5,
  max_db_connections: 50,
};

const SECTION_INTRO: Record<string, string> = {
  dcs: "The etcd cluster Patroni (or the agent) writes its keys to, through etcd's v3 API (`etcd3`) or its v2 API (`etcd`); see [dcs.md](dcs.md).",
  namespace: "Patroni's `namespace`: the key prefix above every cluster scope.",
  clusters:
    'Patroni `scope` names to follow, or `["*"]` for every scope under the namespace (new ones are picked up live).',
  api: 'The HTTP API: `/health`, `/ready`, `/status`, `/metrics`.',
  routing: 'Which members receive traffic, and what happens when etcd is gone.',
  log: 'Logging (pino JSON on stderr, readable lines on a TTY).',
  haproxy:
    'HAProxy: the config file rendered from a template, plus the runtime API fast path. See `docs/haproxy.md`.',
  pgbouncer:
    'PgBouncer: a `[databases]` include file (or the whole ini) plus its admin console. See `docs/poolers.md`.',
  pgcat: 'pgcat: the whole `pgcat.toml`, reloaded and verified. See `docs/poolers.md`.',
  vip: 'A floating IP on the host of the leader. See `docs/vip.md`.',
};

interface Row {
  key: string;
  type: string;
  required: boolean;
  default: string;
  allowed: string;
  example: string;
  description: string;
}

interface DocComment {
  name: string;
  siblings: string[];
  text: string;
}

/** Every `/** … *\/` on a `key: value` in a source file, with the names of the keys beside it. */
function docComments(file: URL): DocComment[] {
  const source = ts.createSourceFile(file.pathname, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found: DocComment[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isPropertyAssignment(node) &&
      ts.isIdentifier(node.name) &&
      ts.isObjectLiteralExpression(node.parent)
    ) {
      const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
      const text = docs
        .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim();
      if (text) {
        const siblings = node.parent.properties
          .filter(ts.isPropertyAssignment)
          .map((p) => p.name.getText(source));
        found.push({ name: node.name.text, siblings, text });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function unwrap(schema: z.ZodTypeAny): {
  inner: z.ZodTypeAny;
  optional: boolean;
  nullable: boolean;
  defaultValue: unknown;
  description: string | undefined;
} {
  let inner = schema;
  let optional = false;
  let nullable = false;
  let defaultValue: unknown = undefined;
  let description = schema.description;
  for (let i = 0; i < 20; i++) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = (inner._def as z.ZodDefaultDef).defaultValue();
      inner = (inner._def as z.ZodDefaultDef).innerType;
    } else if (inner instanceof z.ZodOptional) {
      optional = true;
      inner = inner.unwrap() as z.ZodTypeAny;
    } else if (inner instanceof z.ZodNullable) {
      nullable = true;
      inner = inner.unwrap() as z.ZodTypeAny;
    } else if (inner instanceof z.ZodEffects) {
      inner = inner.innerType() as z.ZodTypeAny;
    } else break;
    description ??= inner.description;
  }
  return { inner, optional, nullable, defaultValue, description };
}

const code = (v: unknown) => '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`';

function typeName(schema: z.ZodTypeAny): string {
  const { inner, nullable } = unwrap(schema);
  let name: string;
  if (inner instanceof z.ZodString) name = 'string';
  else if (inner instanceof z.ZodNumber) name = inner.isInt ? 'integer' : 'number';
  else if (inner instanceof z.ZodBoolean) name = 'boolean';
  else if (inner instanceof z.ZodEnum || inner instanceof z.ZodLiteral) name = 'string';
  else if (inner instanceof z.ZodArray) name = `list of ${typeName(inner.element as z.ZodTypeAny)}`;
  else if (inner instanceof z.ZodUnion)
    name = [...new Set((inner.options as z.ZodTypeAny[]).map((o) => typeName(o)))].join(' or ');
  else if (inner instanceof z.ZodRecord)
    name = `map of name → ${typeName(inner.valueSchema as z.ZodTypeAny)}`;
  else if (inner instanceof z.ZodObject) name = 'object';
  else name = inner.constructor.name.replace(/^Zod/, '').toLowerCase();
  return nullable ? `${name} or null` : name;
}

function constraints(schema: z.ZodTypeAny): string {
  const { inner } = unwrap(schema);
  if (inner instanceof z.ZodEnum) return (inner.options as string[]).map(code).join(', ');
  if (inner instanceof z.ZodLiteral) return code(inner.value);
  if (inner instanceof z.ZodNumber) {
    const min = inner._def.checks.find((c) => c.kind === 'min');
    const max = inner._def.checks.find((c) => c.kind === 'max');
    if (min?.kind === 'min' && max?.kind === 'max' && min.inclusive && max.inclusive)
      return `${min.value}–${max.value}`;
    const parts: string[] = [];
    if (min?.kind === 'min') parts.push(`${min.inclusive ? '≥' : '>'} ${min.value}`);
    if (max?.kind === 'max') parts.push(`${max.inclusive ? '≤' : '<'} ${max.value}`);
    return parts.join(', ');
  }
  if (inner instanceof z.ZodString) {
    const parts: string[] = [];
    for (const check of inner._def.checks) {
      if (check.kind === 'regex') parts.push(check.message ?? `matches ${code(check.regex.source)}`);
      else if (check.kind === 'max') parts.push(`at most ${check.value} characters`);
    }
    return parts.join('; ');
  }
  if (inner instanceof z.ZodUnion) {
    return (inner.options as z.ZodTypeAny[])
      .map((o) => constraints(o))
      .filter(Boolean)
      .join('; ');
  }
  if (inner instanceof z.ZodArray) return constraints(inner.element as z.ZodTypeAny);
  return '';
}

function formatDefault(key: string, value: unknown): string {
  if (value === undefined) return '';
  if (value === hostname() && key.endsWith('member')) return "this host's name";
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) {
    return Array.isArray(value) ? '`[]`' : '`{}`';
  }
  return code(value);
}

function walk(
  schema: z.ZodTypeAny,
  key: string,
  exampleKey: string,
  required: boolean,
  docs: DocComment[],
  description: string,
  rows: Row[],
): void {
  const u = unwrap(schema);
  const isRequired = required && !u.optional && u.defaultValue === undefined;
  const leafName = key.split('.').pop() ?? key;
  let example: unknown = EXAMPLES[exampleKey];
  if (example === undefined && u.defaultValue !== undefined && !(u.inner instanceof z.ZodObject)) {
    example = u.defaultValue;
  }
  if (example === undefined && u.inner instanceof z.ZodEnum) example = u.inner.options[0];
  if (example === undefined && u.inner instanceof z.ZodLiteral) example = u.inner.value;
  example ??= SECRET_EXAMPLES[leafName] ?? POOL_EXAMPLES[leafName];
  if (example === undefined && u.inner instanceof z.ZodBoolean) example = true;
  rows.push({
    key,
    type: typeName(schema),
    required: isRequired,
    default: formatDefault(key, u.defaultValue),
    allowed: constraints(schema),
    example: example === undefined || u.inner instanceof z.ZodObject ? '' : code(example),
    description:
      u.description ?? (description || DESCRIPTIONS[exampleKey] || LEAF_DESCRIPTIONS[leafName] || ''),
  });
  const inner = u.inner;
  if (inner instanceof z.ZodObject) walkObject(inner, key, exampleKey, docs, rows);
  else if (inner instanceof z.ZodRecord) {
    const value = unwrap(inner.valueSchema as z.ZodTypeAny).inner;
    if (value instanceof z.ZodObject) walkObject(value, `${key}.<name>`, `${exampleKey}.<name>`, docs, rows);
  } else if (inner instanceof z.ZodArray) {
    const element = unwrap(inner.element as z.ZodTypeAny).inner;
    if (element instanceof z.ZodObject) walkObject(element, `${key}[]`, `${exampleKey}[]`, docs, rows);
  }
}

function walkObject(
  object: z.ZodObject<z.ZodRawShape>,
  prefix: string,
  examplePrefix: string,
  docs: DocComment[],
  rows: Row[],
): void {
  const keys = Object.keys(object.shape);
  for (const [name, child] of Object.entries(object.shape)) {
    const doc = docs.find((d) => d.name === name && d.siblings.every((s) => keys.includes(s)));
    const join = (p: string) => (p ? `${p}.${name}` : name);
    walk(child as z.ZodTypeAny, join(prefix), join(examplePrefix), true, docs, doc?.text ?? '', rows);
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(rows: Row[]): string {
  const lines = [
    '| key | type | required / default | allowed values | example | description |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const need = r.required ? '**required**' : r.default ? r.default : 'optional';
    lines.push(
      `| ${[code(r.key), r.type, need, r.allowed, r.example, r.description].map(cell).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The whole of docs/configuration.md. */
export function generateConfigDocs(): string {
  const schema = unwrap(routerConfigSchema()).inner as z.ZodObject<z.ZodRawShape>;
  const routerDocs = docComments(new URL('src/config/router.ts', root));
  const out: string[] = [
    '# Configuration reference (`router.yml`)',
    '',
    '<!-- Generated by scripts/gen-config-docs.ts from the zod schemas: do not edit by hand.',
    '     Regenerate with `node --import tsx scripts/gen-config-docs.ts`; test/docs/configuration.test.ts fails when stale. -->',
    '',
    'The whole config is checked before anything runs: when the router starts, on SIGHUP (an invalid new config',
    'is reported and the running one kept), by `switchyard render` and `switchover`, and offline by',
    '`switchyard check --config router.yml` (no etcd, no target, nothing written; `--no-host` for a CI machine',
    'that is not the router host). Every problem is reported at once, one line each as `<file>: <key.path>:',
    "<reason>` (`router.yml: targets.haproxy: unknown key 'relaod'`), and the command exits with code 2.",
    '',
    'Beyond each key and type, the checks cover the whole file and this host:',
    '',
    '- listener ports are 1–65535 (`api.listen` also takes 0, any free port), and no two listeners share an',
    "  address: a frontend's `primary` and `replicas`, frontends of different clusters, pgcat's",
    "  `general.host:port` and the router's own `api.listen` (a wildcard such as `*:5000` or `0.0.0.0:5000`",
    '  overlaps every address on its port). HAProxy binds with SO_REUSEPORT, so two frontends on one address',
    '  would both start and share connections;',
    '- every cluster a target names (`frontends.<name>`, `databases.<name>.cluster`, `pools.<name>.cluster`,',
    '  `vip.cluster`) is one of `clusters` (any with `["*"]`); `vip.cluster` is required unless the router',
    '  follows exactly one cluster;',
    '- on the host (skipped by `check --no-host` and by `status`): the directory of every file the router',
    '  writes (`output`, `state_file`) exists and is writable by the router user; templates, `password_file`s',
    '  and the etcd TLS files are readable; `password_env` variables are set; `owner` users and groups exist;',
    "  every command resolves: a shell command's first word (after `NAME=value` assignments) is a shell",
    "  builtin, a name on `PATH` or an executable path, and the VIP's programs (`ip_command`, the frame",
    '  sender for the address family) are found (a first word the shell builds, such as `$CMD`, is left to',
    "  run time); each target's own loader runs too (template syntax, secrets a target requires).",
    '',
    "Relative paths resolve against the config file's directory (the etcd TLS files `dcs.tls.*`: against the",
    'working directory). `<name>` stands for a name you choose (a cluster scope, a database or pool name);',
    '`[]` for each element of a list.',
    '',
    'Secrets (`password`, `password_env`, `password_file`) are given by exactly one of the three: inline, the',
    'name of an environment variable, or a file whose first line is the secret. They are never logged.',
    '',
    'A minimal config:',
    '',
    '```yaml',
    'dcs: { type: etcd3, hosts: ["127.0.0.1:2379"] }',
    'clusters: [app]',
    'targets:',
    '  haproxy:',
    '    output: /etc/haproxy/haproxy.cfg',
    '    reload: systemctl reload haproxy',
    '    runtime_api: /run/haproxy/admin.sock',
    '    frontends:',
    '      app: { primary: "127.0.0.1:5000", replicas: "127.0.0.1:5001" }',
    '```',
    '',
    '## Contents',
    '',
  ];
  const sections: Array<{ title: string; anchor: string; intro: string; rows: Row[] }> = [];
  for (const [name, child] of Object.entries(schema.shape)) {
    if (name === 'targets') continue;
    const rows: Row[] = [];
    const doc = routerDocs.find((d) => d.name === name);
    walk(child as z.ZodTypeAny, name, name, true, routerDocs, doc?.text ?? '', rows);
    sections.push({ title: `\`${name}\``, anchor: name, intro: SECTION_INTRO[name] ?? '', rows });
  }
  for (const factory of TARGET_FACTORIES) {
    const docs = docComments(new URL(`src/targets/${factory.key}/config.ts`, root));
    const rows: Row[] = [];
    walk(factory.schema as z.ZodTypeAny, `targets.${factory.key}`, factory.key, false, docs, '', rows);
    sections.push({
      title: `\`targets.${factory.key}\``,
      anchor: `targets${factory.key}`,
      intro: SECTION_INTRO[factory.key] ?? '',
      rows,
    });
  }
  out.push(
    ...sections.map((s) => `- [${s.title}](#${s.anchor})`),
    '',
    'At least one target is required. Each target section is optional; give only those you use.',
    '',
  );
  for (const s of sections) {
    out.push(`## ${s.title}`, '', ...(s.intro ? [s.intro, ''] : []), table(s.rows), '');
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generateConfigDocs();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(DOC_PATH, 'utf8');
    } catch {
      // missing = stale
    }
    if (current !== text) {
      console.error(`${DOC_PATH} is stale: run node --import tsx scripts/gen-config-docs.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(DOC_PATH, text);
    console.log(`wrote ${DOC_PATH}`);
  }
}
