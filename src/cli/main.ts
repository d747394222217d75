import { Command, CommanderError } from 'commander';
import { SwitchyardError, describeError } from '../errors.js';
import { commandsFor } from './commands.js';
import { packageVersion } from '../paths.js';

/**
 * `switchyard <command>`. Each subcommand lives in its own module under src/cli/ and exports
 * `register(program)`; its action sets `process.exitCode` or throws a SwitchyardError (exitCode used).
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('switchyard')
    .description(
      'Keep PostgreSQL clients on the writable primary. The router follows the Patroni leader key in etcd and ' +
        'repoints HAProxy, PgBouncer, pgcat or a virtual IP within milliseconds; the agent runs PostgreSQL HA ' +
        "with Patroni's keys and REST API.",
    )
    .version(packageVersion(), '-V, --version', 'print the version of switchyard')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  switchyard check --config router.yml\n  switchyard route --config router.yml\n  switchyard render --config router.yml --dry-run --diff\n  switchyard status --api 127.0.0.1:8009\n',
    );
  for (const register of await commandsFor(argv)) register(program);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof SwitchyardError) {
      process.stderr.write(`switchyard: ${err.message}\n`);
      const problems = (err as { problems?: readonly string[] }).problems ?? [];
      for (const p of problems) process.stderr.write(`  - ${p}\n`);
      return err.exitCode;
    }
    process.stderr.write(`switchyard: unexpected error: ${describeError(err)}\n`);
    if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
