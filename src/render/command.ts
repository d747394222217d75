import { execa } from 'execa';
import { SwitchyardError } from '../errors.js';

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

/**
 * Runs an operator-supplied command through `/bin/sh -c` with a deadline. Throws SwitchyardError with
 * code SY_ERR_COMMAND_TIMEOUT (`timedOut`) or SY_ERR_RELOAD_FAILED carrying the output's last lines.
 */
export async function runCommand(command: string, options: CommandOptions): Promise<CommandResult> {
  const expanded = expandCommand(command, options.file);
  const result = await execa('/bin/sh', ['-c', expanded], {
    timeout: options.timeoutMs,
    reject: false,
    stdin: 'ignore',
    all: true,
    forceKillAfterDelay: 1000,
  });
  if (result.timedOut) {
    throw new CommandError(`${options.purpose} command timed out after ${options.timeoutMs} ms: ${command}`, true, result.all ?? '');
  }
  if (result.exitCode !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited ${result.exitCode}`;
    throw new CommandError(`${options.purpose} command ${why}: ${command}${tail(result.all ?? '')}`, false, result.all ?? '');
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
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
  const lines = output.trim().split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return '';
  return `\n${lines.slice(-5).join('\n')}`;
}
