import { spawn } from 'node:child_process';
import { SwitchyardError } from '../errors.js';

/**
 * The one process runner of router and agent: operator commands (render checks and reloads), the VIP's
 * `ip`/`arping`/`ndptool`, and the agent's PostgreSQL binaries all start here. Argv only (a shell only when
 * the caller names `/bin/sh -c` itself), a deadline, an environment with secrets removed unless named, and a
 * typed result: a non-zero exit, a signal or a timeout is data, the caller decides what it means.
 */
export interface ProcessSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  /** Kills the process early (result `canceled`). */
  readonly signal?: AbortSignal;
  /** Added to the cleaned environment; always passed, secrets included (the caller named them). */
  readonly env?: Readonly<Record<string, string>>;
  /** Inherited variables that may pass although they look like secrets. */
  readonly keepEnv?: (name: string) => boolean;
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Own process group, killed whole: for shell commands, whose hung grandchild would otherwise hold the
   * output pipes.
   */
  readonly group?: boolean;
  /** At the deadline or cancel: TERM, then KILL after this long. Without it: KILL at once. */
  readonly killGraceMs?: number;
}

export interface ProcessResult {
  /** null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly canceled: boolean;
  /** Tails (last 64 KiB) of each stream and of both interleaved. */
  readonly stdout: string;
  readonly stderr: string;
  readonly output: string;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Variable names that look like credentials (PGPASSWORD, ETCD_PASSWORD, API_TOKEN, AWS_SECRET_ACCESS_KEY...). */
const SECRET_NAME = /PASSW(OR)?D|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|_KEY$|^PGPASS/i;
/** Variables a config names as a secret source (`password_env`), whatever their name. */
const secretEnvNames = new Set<string>();

/** Marks an environment variable as holding a secret: it is removed from every child's environment. */
export function markSecretEnv(name: string): void {
  secretEnvNames.add(name);
}

/** The parent's environment minus secrets (marked names and names that look like credentials) not kept. */
export function cleanEnvironment(
  keep: (name: string) => boolean = () => false,
  parent: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    const isSecret = secretEnvNames.has(name) || SECRET_NAME.test(name);
    if (isSecret && !keep(name)) continue;
    env[name] = value;
  }
  return env;
}

/** The process could not be started (ENOENT, EACCES...); `errno` says why. */
export class ProcessStartError extends SwitchyardError {
  override name = 'ProcessStartError';
  readonly errno: string;
  constructor(file: string, cause: NodeJS.ErrnoException) {
    super('SY_ERR_PROCESS', `cannot run ${file}: ${cause.code ?? cause.message}`, { cause });
    this.errno = cause.code ?? 'UNKNOWN';
  }
}

/** Runs one process to its end; rejects only with {@link ProcessStartError}. */
export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.file, [...spec.args], {
      detached: spec.group ?? false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...cleanEnvironment(spec.keepEnv), ...spec.env },
      ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
      ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stdout = (stdout + text).slice(-OUTPUT_LIMIT);
      output = (output + text).slice(-OUTPUT_LIMIT);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderr = (stderr + text).slice(-OUTPUT_LIMIT);
      output = (output + text).slice(-OUTPUT_LIMIT);
    });
    let timedOut = false;
    let canceled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (spec.group && child.pid) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    const stop = () => {
      if (spec.killGraceMs === undefined) return kill('SIGKILL');
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), spec.killGraceMs);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, spec.timeoutMs);
    const onAbort = () => {
      canceled = true;
      stop();
    };
    if (spec.signal?.aborted) onAbort();
    else spec.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      spec.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      done();
      reject(new ProcessStartError(spec.file, error));
    });
    child.once('close', (exitCode, signal) => {
      done();
      // a grandchild of a killed group may linger: make sure the whole group is gone
      if (spec.group && (timedOut || canceled)) kill('SIGKILL');
      resolve({ exitCode, signal, timedOut, canceled, stdout, stderr, output });
    });
  });
}

/** The last non-empty lines of an output, for error messages. */
export function lastLines(output: string, count: number): string[] {
  return output
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-count);
}
