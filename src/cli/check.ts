import type { Command } from 'commander';
import { collectListeners } from '../config/listeners.js';
import { checkRouterConfig, type CheckedConfig } from '../config/router.js';

/** One line saying what was checked, e.g. for a CI log. */
export function checkSummary({ config, files, commands }: CheckedConfig, isHost: boolean): string {
  const targets = Object.keys(config.targets).filter(
    (k) => (config.targets as Record<string, unknown>)[k] !== undefined,
  );
  const listen = config.api.listen;
  const api = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const listeners = collectListeners(api, config.targets).length;
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const host = isHost
    ? `${plural(files, 'file')} and ${plural(commands, 'command')} checked on this host`
    : 'host checks skipped (--no-host)';
  return (
    `${config.path}: valid (clusters: ${config.clusters.join(', ')}; targets: ${targets.join(', ')}; ` +
    `${plural(listeners, 'listener')}; ${host})`
  );
}

/** `switchyard check`: the router's whole config validation, without etcd and without any target. */
export function register(program: Command): void {
  program
    .command('check')
    .description('validate a router config completely, offline: no etcd, no target, nothing written')
    .requiredOption('-c, --config <file>', 'router configuration (YAML)')
    .option('--no-host', 'check only the file itself, not paths, commands, secrets and users of this host')
    .addHelpText(
      'after',
      '\nChecks everything `switchyard route` checks before it starts: YAML syntax, every key and type,\n' +
        'listener ports (1–65535) and addresses (no two listeners on one address, the API included), the\n' +
        'clusters targets name, and on this host: the directory of every written file exists and is\n' +
        'writable, templates, password files and TLS files are readable, secret environment variables are\n' +
        'set, owners exist and every command resolves (its first word on PATH, or an executable path).\n' +
        'It connects to nothing, starts no target and writes nothing: run it in the CI of a config\n' +
        'repository (with --no-host when the CI machine is not the router host).\n' +
        '\nOutput: one line on stdout when valid; every problem on stderr as `<file>: <key.path>: <reason>`.\n' +
        'Exit codes: 0 valid, 2 invalid (or unreadable) config.\n' +
        '\nExamples:\n  switchyard check --config /etc/switchyard/router.yml\n' +
        '  switchyard check --config router.yml --no-host\n',
    )
    .action((opts: { config: string; host: boolean }) => {
      const checked = checkRouterConfig(opts.config, { host: opts.host });
      process.stdout.write(`${checkSummary(checked, opts.host)}\n`);
      process.exitCode = 0;
    });
}
