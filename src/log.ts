import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs (pino) with level names (`"level":"warn"`, as Loki, Elastic and journald tools expect);
 * readable lines when stderr is a TTY or `SWITCHYARD_LOG_PRETTY=1`.
 * Secret-bearing fields are redacted whatever the caller passes.
 */
export function createLogger(
  options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const level = options.level ?? process.env['SWITCHYARD_LOG_LEVEL'] ?? 'info';
  const pretty =
    process.env['SWITCHYARD_LOG_PRETTY'] === '1' || (process.stderr.isTTY && !options.destination);
  const base = {
    level,
    name: options.name ?? 'switchyard',
    redact: {
      paths: ['password', '*.password', '*.*.password', 'auth', '*.auth', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(
    { ...base, formatters: { level: (label) => ({ level: label }) } },
    options.destination ?? pino.destination(2),
  );
}

/** A logger that drops everything (tests, dry runs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
