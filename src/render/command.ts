import { resolveSecret, type SecretSource } from '../config/secret.js';
import { SwitchyardError } from '../errors.js';
import { cleanEnvironment, lastLines, markSecretEnv, runProcess } from '../util/process.js';

export { markSecretEnv };

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  timeoutMs: number;
  /** Substituted for `{{file}}` in the command (the staged file of a check). */
  file?: string;
  /** What the command is for, in errors: "check", "reload". */
  purpose: string;
}

/** Replaces `{{file}}`; the path is shell-quoted because the command runs through `/bin/sh -c`. */
export function expandCommand(command: string, file: string | undefined): string {
  if (file === undefined) return command;
  const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
  return command.replace(/\{\{\s*file\s*\}\}/g, quoted);
}

/** `resolveSecret` for a target's secret; a `password_env` variable is also kept out of every command. */
export function resolveTargetSecret(
  source: SecretSource,
  where: string,
  baseDir: string,
): string | undefined {
  if (source.password_env !== undefined) markSecretEnv(source.password_env);
  return resolveSecret(source, where, baseDir);
}

/**
 * The environment of an operator command: the router's own, minus secrets (variables named by a
 * `password_env`, and names that look like credentials). A command that needs one names it (`$NAME` or
 * `${NAME}` in its text) and gets it.
 */
export function commandEnvironment(
  command: string,
  parent: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return cleanEnvironment((name) => mentions(command, name), parent);
}

function mentions(command: string, name: string): boolean {
  return command.includes(`$${name}`) || command.includes(`\${${name}`);
}

/**
 * Runs an operator-supplied command through `/bin/sh -c` with a deadline, in {@link commandEnvironment}, on
 * the shared runner ({@link runProcess}) in its own process group: on timeout the whole group is killed
 * (TERM, then KILL after 1 s) — killing only the shell would leave a hung grandchild holding the output
 * pipes. Throws CommandError with code SY_ERR_COMMAND_TIMEOUT (`timedOut`) or SY_ERR_RELOAD_FAILED
 * carrying the output's last lines.
 */
export async function runCommand(command: string, options: CommandOptions): Promise<CommandResult> {
  let result;
  try {
    result = await runProcess({
      file: '/bin/sh',
      args: ['-c', expandCommand(command, options.file)],
      timeoutMs: options.timeoutMs,
      keepEnv: (name) => mentions(command, name),
      group: true,
      killGraceMs: 1000,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CommandError(`${options.purpose} command could not start: ${why}`, false, '');
  }
  const { output } = result;
  if (result.timedOut) {
    throw new CommandError(
      `${options.purpose} command timed out after ${options.timeoutMs} ms: ${command}`,
      true,
      output,
    );
  }
  if (result.exitCode !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited ${result.exitCode}`;
    throw new CommandError(`${options.purpose} command ${why}: ${command}${tail(output)}`, false, output);
  }
  return { stdout: result.stdout, stderr: result.stderr };
}

export class CommandError extends SwitchyardError {
  override name = 'CommandError';
  readonly timedOut: boolean;
  readonly output: string;
  constructor(message: string, timedOut: boolean, output: string) {
    super(timedOut ? 'SY_ERR_COMMAND_TIMEOUT' : 'SY_ERR_RELOAD_FAILED', message);
    this.timedOut = timedOut;
    this.output = output;
  }
}

function tail(output: string): string {
  const lines = lastLines(output, 5);
  return lines.length === 0 ? '' : `\n${lines.join('\n')}`;
}
