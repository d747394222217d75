import { delimiter, dirname, join, resolve } from 'node:path';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { ConfigError, describeError } from '../errors.js';
import { defaultTemplate } from '../paths.js';
import { compileTemplate } from '../render/template.js';
import type { TargetsConfig } from '../targets/index.js';
import { resolvePgBouncerOptions } from '../targets/pgbouncer/options.js';
import { resolvePgcatOptions } from '../targets/pgcat/index.js';
import { resolveOwner } from './owner.js';
import { resolveSecret, type SecretSource } from './secret.js';

/** What the host checks of one config looked at, for `switchyard check`'s summary line. */
export interface HostCheckResult {
  /** Each problem as "key.path: what is wrong" (the caller prefixes the file). */
  readonly problems: string[];
  readonly files: number;
  readonly commands: number;
}

/** Words `/bin/sh` runs without a program on PATH. */
const SHELL_BUILTINS = new Set(
  (
    '. : [ alias bg break cd command continue echo eval exec exit export false fg getopts hash jobs kill ' +
    'local printf pwd read readonly return set shift test times trap true type ulimit umask unalias unset ' +
    'wait if while until for case { ! ('
  ).split(' '),
);

/** The first word `/bin/sh -c` would run: leading `NAME=value` assignments skipped, simple quotes removed. */
export function firstWord(command: string): string {
  const words = command.trim().split(/\s+/);
  const word = words.find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) ?? '';
  return word.replace(/^(['"])(.*)\1$/, '$2');
}

/** Why `program` cannot be run (null when it can): a path must be an executable file, a name on PATH. */
export function unresolvable(program: string, path = process.env['PATH'] ?? ''): string | null {
  const isExecutable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) return isExecutable(program) ? null : `${program} is not an executable file`;
  if (path.split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, program)))) return null;
  return `command ${JSON.stringify(program)} is not on PATH`;
}

/** Why a file cannot be written there (null when it can): its directory must exist and be writable. */
export function unwritableDirectory(file: string): string | null {
  const dir = dirname(file);
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `directory ${dir} does not exist`;
    if (code === 'EACCES') return `directory ${dir} is not writable by this user (uid ${process.getuid?.()})`;
    return `directory ${dir}: ${code ?? describeError(err)}`;
  }
}

function unreadable(file: string): string | null {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile() ? null : `${file} is not a file`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file} (${code ?? 'error'})`;
  }
}

/** Every object under `value` that carries a secret field, with its key path. */
function secretSources(value: unknown, path: string[], out: Array<[string, SecretSource]> = []) {
  if (value === null || typeof value !== 'object') return out;
  const record = value as Record<string, unknown>;
  if (['password', 'password_env', 'password_file'].some((k) => record[k] !== undefined))
    out.push([path.join('.'), record as SecretSource]);
  for (const [key, child] of Object.entries(record)) secretSources(child, [...path, key], out);
  return out;
}

export interface HostCheckInput {
  readonly dir: string;
  readonly targets: TargetsConfig;
  readonly tls: { ca: string; cert?: string | undefined; key?: string | undefined } | undefined;
}

/**
 * The checks of a config against this host, all of them (no early return): the directory of every file
 * the router writes exists and is writable, every template, password file and TLS file is readable, every
 * environment variable named by a secret is set, every owner exists and every command resolves.
 * Reads only: nothing is written, started or connected.
 */
export function checkHost(config: HostCheckInput): HostCheckResult {
  const problems: string[] = [];
  let files = 0;
  let commands = 0;
  const report = (key: string, problem: string | null) => {
    if (problem !== null) problems.push(`${key}: ${problem}`);
  };
  const written = (key: string, file: string | null | undefined) => {
    if (file === null || file === undefined) return;
    files++;
    report(key, unwritableDirectory(resolve(config.dir, file)));
  };
  const read = (key: string, file: string | undefined, base = config.dir) => {
    if (file === undefined) return;
    files++;
    report(key, unreadable(resolve(base, file)));
  };
  const shell = (key: string, command: string | null | undefined) => {
    if (command === null || command === undefined) return;
    commands++;
    const word = firstWord(command);
    // A first word built by the shell (`$CMD`, `(cd x && y)`) can only be known when it runs.
    if (!SHELL_BUILTINS.has(word) && !/[$`()<>;&|*?{}]/.test(word)) report(key, unresolvable(word));
  };
  const program = (key: string, name: string) => {
    commands++;
    report(key, unresolvable(name));
  };

  // etcd's TLS files are read relative to the working directory (src/dcs/connect.ts).
  read('dcs.tls.ca', config.tls?.ca, process.cwd());
  read('dcs.tls.cert', config.tls?.cert, process.cwd());
  read('dcs.tls.key', config.tls?.key, process.cwd());

  const { haproxy, pgbouncer, pgcat, vip } = config.targets;
  if (haproxy) {
    written('targets.haproxy.output', haproxy.output);
    written('targets.haproxy.state_file', haproxy.state_file);
    read('targets.haproxy.template', haproxy.template);
    shell('targets.haproxy.check', haproxy.check);
    shell('targets.haproxy.reload', haproxy.reload);
  }
  if (pgbouncer) {
    written('targets.pgbouncer.output', pgbouncer.output);
    read('targets.pgbouncer.template', pgbouncer.template);
    shell('targets.pgbouncer.check', pgbouncer.check);
    if (pgbouncer.reload.method === 'command')
      shell('targets.pgbouncer.reload.command', pgbouncer.reload.command);
  }
  if (pgcat) {
    written('targets.pgcat.output', pgcat.output);
    read('targets.pgcat.template', pgcat.template);
    shell('targets.pgcat.check', pgcat.check);
    if (pgcat.reload.method === 'command') shell('targets.pgcat.reload.command', pgcat.reload.command);
  }
  if (vip) {
    program('targets.vip.ip_command', vip.ip_command);
    if (vip.address.family === 6) program('targets.vip.ndptool.command', vip.ndptool.command);
    else if (vip.announce.sender === 'python')
      program('targets.vip.announce.python_command', vip.announce.python_command);
    else if (vip.announce.sender === 'arping') program('targets.vip.arping.command', vip.arping.command);
    else {
      // auto: the resident python sender, else arping; one of them is enough.
      commands++;
      const python = unresolvable(vip.announce.python_command);
      const arping = unresolvable(vip.arping.command);
      if (python !== null && arping !== null)
        report('targets.vip.announce', `no frame sender: ${python}, and ${arping}`);
    }
  }

  for (const [key, source] of secretSources(config.targets, ['targets'])) {
    try {
      resolveSecret(source, key, config.dir);
    } catch (err) {
      problems.push(err instanceof ConfigError ? err.message : `${key}: ${describeError(err)}`);
    }
  }
  for (const [key, owner] of [
    ['targets.pgbouncer.owner', pgbouncer?.owner],
    ['targets.pgcat.owner', pgcat?.owner],
  ] as const) {
    if (owner === undefined) continue;
    try {
      resolveOwner(owner, key);
    } catch (err) {
      problems.push(err instanceof ConfigError ? err.message : `${key}: ${describeError(err)}`);
    }
  }
  // What each target's own loader checks (template syntax, secrets a target requires), once its section
  // has no problem above: the loaders stop at their first problem, which would repeat one found already.
  const isClean = (key: string) => !problems.some((p) => p.startsWith(`${key}.`) || p.startsWith(`${key}:`));
  const loader = (key: string, load: () => unknown) => {
    if (!isClean(key)) return;
    try {
      load();
    } catch (err) {
      problems.push(err instanceof ConfigError ? err.message : `${key}: ${describeError(err)}`);
    }
  };
  if (haproxy) {
    const template = haproxy.template
      ? resolve(config.dir, haproxy.template)
      : defaultTemplate('haproxy.cfg.hbs');
    loader('targets.haproxy.template', () => compileTemplate(readFileSync(template, 'utf8'), template));
  }
  if (pgbouncer) loader('targets.pgbouncer', () => resolvePgBouncerOptions(pgbouncer, config.dir));
  if (pgcat) loader('targets.pgcat', () => resolvePgcatOptions(pgcat, config.dir));

  return { problems, files, commands };
}
