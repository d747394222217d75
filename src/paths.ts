import { existsSync } from 'node:fs';
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
