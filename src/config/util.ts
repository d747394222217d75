import type { z } from 'zod';
import { ConfigError } from '../errors.js';

/** "file: key.path: message" for every zod issue; unknown keys are listed by name. */
export function formatIssues(file: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return `${file}: ${path}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    }
    if (issue.code === 'invalid_type' && issue.received === 'undefined') return `${file}: ${path}: required`;
    return `${file}: ${path}: ${issue.message}`;
  });
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "1MB", "512kB", "16384" → bytes (Patroni's lag notation, base 1024). */
export function parseByteSize(value: string): number {
  const m = /^\s*(\d+)\s*([kKmMgG]?[bB]?)\s*$/.exec(value);
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new ConfigError(`expected a size like 1MB or 16384, got ${JSON.stringify(value)}`);
  return Number(m[1]) * unit;
}

/** "127.0.0.1:8009" / "[::1]:8009" → host and port. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535))
    throw new ConfigError(`expected host:port, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? m[2] ?? '', port };
}
