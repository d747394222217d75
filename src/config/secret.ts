import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/**
 * A secret given inline, by environment variable or by file (first line, trailing newline stripped).
 * Schema for config files: `password: "x"` | `password_env: NAME` | `password_file: /path`.
 */
export const SecretFields = {
  password: z.string().min(1).optional(),
  password_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  password_file: z.string().min(1).optional(),
};

export interface SecretSource {
  password?: string | undefined;
  password_env?: string | undefined;
  password_file?: string | undefined;
}

/** Resolves a secret; `where` names the config key for errors ("targets.pgbouncer.admin"). Never logs the value. */
export function resolveSecret(source: SecretSource, where: string, baseDir: string): string | undefined {
  const given = [source.password, source.password_env, source.password_file].filter((v) => v !== undefined);
  if (given.length > 1) {
    throw new ConfigError(`${where}: give only one of password, password_env, password_file`);
  }
  if (source.password !== undefined) return source.password;
  if (source.password_env !== undefined) {
    const value = process.env[source.password_env];
    if (value === undefined || value === '') {
      throw new ConfigError(`${where}.password_env: environment variable ${source.password_env} is not set`);
    }
    return value;
  }
  if (source.password_file !== undefined) {
    const path = resolve(baseDir, source.password_file);
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        `${where}.password_file: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  return undefined;
}
