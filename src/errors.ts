/**
 * One base error for everything Switchyard throws on purpose. Match on `code`, never on message text.
 * Messages name the object, what was expected, what was found and what to do.
 */
export type SwitchyardErrorCode =
  | 'SY_ERR_CONFIG_INVALID'
  | 'SY_ERR_CONFIG_UNREADABLE'
  | 'SY_ERR_DCS_UNAVAILABLE'
  | 'SY_ERR_DCS_VALUE_INVALID'
  | 'SY_ERR_RENDER_TEMPLATE'
  | 'SY_ERR_RENDER_INVALID'
  | 'SY_ERR_RENDER_WRITE'
  | 'SY_ERR_RELOAD_FAILED'
  | 'SY_ERR_COMMAND_TIMEOUT'
  | 'SY_ERR_TARGET_UNKNOWN'
  | 'SY_ERR_TARGET_APPLY'
  | 'SY_ERR_RUNTIME_API'
  | 'SY_ERR_ADMIN_CONSOLE'
  | 'SY_ERR_SWITCHOVER'
  | 'SY_ERR_VIP'
  | 'SY_ERR_PROCESS'
  | 'SY_ERR_AGENT'
  | 'SY_ERR_REST_TIMEOUT'
  | 'SY_ERR_REST_UNREACHABLE'
  | 'SY_ERR_REST_STATUS';

export interface SwitchyardErrorOptions {
  cause?: unknown;
  /** Exit code the CLI uses when this error ends it. */
  exitCode?: number;
}

export class SwitchyardError extends Error {
  override name = 'SwitchyardError';
  readonly code: SwitchyardErrorCode;
  readonly exitCode: number;

  constructor(code: SwitchyardErrorCode, message: string, options: SwitchyardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

export class ConfigError extends SwitchyardError {
  override name = 'ConfigError';
  /** Each problem as "file: key.path: what is wrong". */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [], options: SwitchyardErrorOptions = {}) {
    super('SY_ERR_CONFIG_INVALID', message, { exitCode: 2, ...options });
    this.problems = problems;
  }
}

/** etcd (or any DCS) could not be reached or answered with a transport error: one branch for "DCS down". */
export class DcsUnavailableError extends SwitchyardError {
  override name = 'DcsUnavailableError';
  constructor(message: string, options: SwitchyardErrorOptions = {}) {
    super('SY_ERR_DCS_UNAVAILABLE', message, options);
  }
}

/** Short, log-safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
