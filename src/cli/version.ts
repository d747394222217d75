import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/**
 * The version in the package's own package.json, read at run time: the same file whether the CLI runs
 * from src/ (tsx) or from dist/ (the installed package), so `--version` cannot drift from the release.
 */
export function packageVersion(from?: string): string {
  const file = join(packageRoot(from), 'package.json');
  const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${file} has no version`);
  return version;
}
