import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (holds package.json and templates/), whether running from src/ via tsx or from dist/
 * (`from`: the module to start from, this one by default).
 */
export function packageRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'templates'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the switchyard package root (package.json + templates/)');
}

export function defaultTemplate(name: string): string {
  return join(packageRoot(), 'templates', name);
}

/**
 * The version in the package's own package.json, read at run time: the same file whether Switchyard runs
 * from src/ (tsx) or from dist/ (the installed package), so `--version` and `switchyard_build_info`
 * cannot drift from the release.
 */
export function packageVersion(from?: string): string {
  const file = join(packageRoot(from), 'package.json');
  const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${file} has no version`);
  return version;
}
