import { isSafeHost, isValidPort, truncate } from '../../cluster/validate.js';
import { SwitchyardError } from '../../errors.js';
import { INI_NAME, hasControlChars } from './config.js';

/** One `[databases]` entry: PgBouncer database name → connection-string pairs, in order. */
export interface IniDatabase {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [key: string, value: string]>;
}

/** Connection-string keys PgBouncer 1.18 accepts and their value rule. `password` is quoted. */
const PARAM_RULES: Record<string, (v: string) => boolean> = {
  host: (v) => isSafeHost(v),
  port: (v) => /^\d+$/.test(v) && isValidPort(Number(v)),
  dbname: (v) => INI_NAME.test(v),
  user: (v) => INI_NAME.test(v),
  auth_user: (v) => INI_NAME.test(v),
  password: (v) => v.length > 0 && !hasControlChars(v),
  pool_size: (v) => /^\d{1,6}$/.test(v),
  min_pool_size: (v) => /^\d{1,6}$/.test(v),
  reserve_pool: (v) => /^\d{1,6}$/.test(v),
  max_db_connections: (v) => /^\d{1,6}$/.test(v),
  pool_mode: (v) => v === 'session' || v === 'transaction' || v === 'statement',
};

export class IniValueError extends SwitchyardError {
  override name = 'IniValueError';
  constructor(message: string) {
    super('SY_ERR_RENDER_INVALID', message);
  }
}

/** Says why a value may not be written; null when it may. Secrets are never echoed. */
export function checkParam(key: string, value: string): string | null {
  const rule = PARAM_RULES[key];
  if (!rule) return `unknown connection parameter ${JSON.stringify(truncate(key, 40))}`;
  if (rule(value)) return null;
  if (key === 'password') return 'password is empty or contains control characters/newlines';
  return `${key} ${JSON.stringify(truncate(value, 40))} is not allowed in pgbouncer.ini`;
}

/**
 * Builds `host=… port=… dbname=…` for one entry. Every value is re-validated here (render time), even
 * though config and DCS values were validated when parsed: a value that fails throws, it is never escaped
 * into the file. Only the password is quoted (`'…'`, `''` for a quote), as PgBouncer's parser reads it.
 */
export function buildConnString(db: IniDatabase): string {
  if (!INI_NAME.test(db.name) || db.name === 'pgbouncer') {
    throw new IniValueError(
      `database name ${JSON.stringify(truncate(db.name, 40))} is not allowed in pgbouncer.ini`,
    );
  }
  return db.params
    .map(([key, value]) => {
      const problem = checkParam(key, value);
      if (problem) throw new IniValueError(`database ${db.name}: ${problem}`);
      return key === 'password' ? `password='${value.replace(/'/g, "''")}'` : `${key}=${value}`;
    })
    .join(' ');
}

export interface ParsedIni {
  /** Section name → entries in file order. */
  readonly sections: ReadonlyMap<string, ReadonlyArray<readonly [string, string]>>;
  readonly includes: readonly string[];
  readonly problems: readonly string[];
}

/**
 * Parses ini text the way PgBouncer's parser (libusual cfparser.c) does: `%include path`, `;`/`#`
 * comment lines, `[section]`, `key = value to end of line`, keys from `[A-Za-z0-9_.*-]` or `'quoted'`.
 */
export function parseIni(text: string): ParsedIni {
  const sections = new Map<string, Array<[string, string]>>();
  const includes: string[] = [];
  const problems: string[] = [];
  let current: Array<[string, string]> | null = null;
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.replace(/^\s+/, '');
    const at = `line ${index + 1}`;
    if (line === '') return;
    if (/^%include[ \t]/.test(line)) return void includes.push(line.slice(8).trim());
    if (line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[')) {
      const m = /^\[([^\]\n]*)\]/.exec(line);
      if (!m) return void problems.push(`${at}: unterminated section header`);
      const name = (m[1] ?? '').trim().toLowerCase();
      current = sections.get(name) ?? [];
      sections.set(name, current);
      return;
    }
    const m = /^(?:'([^']+)'|([A-Za-z0-9_.*-]+))[ \t]*=[ \t]*(.*)$/.exec(line);
    if (!m) return void problems.push(`${at}: not a key = value line`);
    if (!current) return void problems.push(`${at}: key outside any section`);
    current.push([m[1] ?? m[2] ?? '', (m[3] ?? '').replace(/\s+$/, '')]);
  });
  return { sections, includes, problems };
}

/** Parses a `[databases]` value with PgBouncer's connection-string rules (loader.c `cstr_get_pair`). */
export function parseConnString(value: string): Array<[string, string]> | string {
  const pairs: Array<[string, string]> = [];
  let p = 0;
  const skip = () => {
    while (value[p] === ' ') p++;
  };
  while (true) {
    skip();
    if (p >= value.length) return pairs;
    const keyStart = p;
    while (p < value.length && value[p] !== '=' && value[p] !== ' ') p++;
    const key = value.slice(keyStart, p);
    skip();
    if (value[p] !== '=' || key === '') return `syntax error near ${JSON.stringify(truncate(key, 20))}`;
    p++;
    skip();
    let v = '';
    if (value[p] === "'") {
      p++;
      while (true) {
        if (p >= value.length) return `unterminated quote after ${key}=`;
        if (value[p] === "'") {
          if (value[p + 1] === "'") p++;
          else break;
        }
        v += value[p++];
      }
      p++;
    } else {
      const start = p;
      while (p < value.length && value[p] !== ' ') p++;
      v = value.slice(start, p);
    }
    if (v === '') return `empty value for ${key}`;
    pairs.push([key, v]);
  }
}

/**
 * Checks rendered text before it replaces the live file: it must parse, its `[databases]` section must
 * hold exactly the expected entries with exactly the expected values (so nothing a template or a value
 * smuggled in reaches PgBouncer), and `%include` lines are allowed only when the template itself has one.
 * Returns the problems; messages never contain password values.
 */
export function checkRenderedIni(
  text: string,
  expected: readonly IniDatabase[],
  options: { mode: 'include' | 'full'; allowedIncludes: number },
): string[] {
  const parsed = parseIni(text);
  const problems = [...parsed.problems];
  if (parsed.includes.length > options.allowedIncludes) {
    problems.push(`${parsed.includes.length} %include line(s), the template has ${options.allowedIncludes}`);
  }
  if (options.mode === 'include') {
    for (const name of parsed.sections.keys())
      if (name !== 'databases') problems.push(`unexpected section [${name}] in include mode`);
  } else if (!parsed.sections.has('pgbouncer')) {
    problems.push('full mode: no [pgbouncer] section');
  }
  const entries = parsed.sections.get('databases') ?? [];
  const wanted = new Map(expected.map((d) => [d.name, d]));
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    const want = wanted.get(name);
    if (!want) {
      problems.push(`[databases] has unexpected entry ${JSON.stringify(truncate(name, 40))}`);
      continue;
    }
    if (seen.has(name)) problems.push(`[databases] entry ${name} appears twice`);
    seen.add(name);
    const pairs = parseConnString(value);
    if (typeof pairs === 'string') {
      problems.push(`[databases] ${name}: ${pairs}`);
      continue;
    }
    const same =
      pairs.length === want.params.length &&
      pairs.every(([k, v], i) => want.params[i]?.[0] === k && want.params[i]?.[1] === v);
    if (!same) problems.push(`[databases] ${name}: value differs from the intended connection string`);
  }
  for (const name of wanted.keys()) if (!seen.has(name)) problems.push(`[databases] is missing ${name}`);
  return problems;
}
