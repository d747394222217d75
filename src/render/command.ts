import { spawn } from 'node:child_process';
import { resolveSecret, type SecretSource } from '../config/secret.js';
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

const OUTPUT_LIMIT = 64 * 1024;

/** Variable names that look like credentials (PGPASSWORD, ETCD_PASSWORD, API_TOKEN, AWS_SECRET_ACCESS_KEY...). */
const SECRET_NAME = /PASSW(OR)?D|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|_KEY$|^PGPASS/i;
/** Variables a config names as a secret source (`password_env`), whatever their name. */
const secretEnvNames = new Set<string>();

/** Marks an environment variable as holding a secret: it is removed from every command's environment. */
export function markSecretEnv(name: string): void {
  secretEnvNames.add(name);
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
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    const isSecret = secretEnvNames.has(name) || SECRET_NAME.test(name);
    if (isSecret && !mentions(command, name)) continue;
    env[name] = value;
  }
  return env;
}

function mentions(command: string, name: string): boolean {
  return command.includes(`$${name}`) || command.includes(`\${${name}`);
}

/**
 * Runs an operator-supplied command through `/bin/sh -c` with a deadline, in {@link commandEnvironment}. The command gets its own
 * process group, and on timeout the whole group is killed (TERM, then KILL after 1 s) — killing only the
 * shell would leave a hung grandchild holding the output pipes. Throws CommandError with code
 * SY_ERR_COMMAND_TIMEOUT (`timedOut`) or SY_ERR_RELOAD_FAILED carrying the output's last lines.
 */
export function runCommand(command: string, options: CommandOptions): Promise<CommandResult> {
  const expanded = expandCommand(command, options.file);
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', expanded], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: commandEnvironment(command),
    });
    let stdout = '';
    let stderr = '';
    let all = '';
    const collect = (which: 'out' | 'err') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (which === 'out') stdout = (stdout + text).slice(-OUTPUT_LIMIT);
      else stderr = (stderr + text).slice(-OUTPUT_LIMIT);
      all = (all + text).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect('out'));
    child.stderr.on('data', collect('err'));
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), 1000);
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(`${options.purpose} command could not start: ${err.message}`, false, ''));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (timedOut) {
        killGroup('SIGKILL');
        reject(
          new CommandError(
            `${options.purpose} command timed out after ${options.timeoutMs} ms: ${command}`,
            true,
            all,
          ),
        );
      } else if (code !== 0) {
        const why = signal ? `was killed by ${signal}` : `exited ${code}`;
        reject(new CommandError(`${options.purpose} command ${why}: ${command}${tail(all)}`, false, all));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
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
  const lines = output
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (lines.length === 0) return '';
  return `\n${lines.slice(-5).join('\n')}`;
}
