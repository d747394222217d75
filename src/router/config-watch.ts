import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';

/** Keys whose string values name files the router reads (templates, secrets, TLS material). */
const FILE_KEYS = new Set(['template', 'password_file']);
const TLS_FILE_KEYS = new Set(['ca', 'cert', 'key']);

/**
 * Every file a parsed config reads besides itself: `template`, `*password_file`, and `ca`/`cert`/`key`
 * inside a `tls` section, resolved against the config's directory.
 */
export function referencedFiles(config: unknown, dir: string): string[] {
  const found = new Set<string>();
  const walk = (value: unknown, inTls: boolean) => {
    if (Array.isArray(value)) return value.forEach((v) => walk(v, inTls));
    if (value === null || typeof value !== 'object') return;
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'string' && (FILE_KEYS.has(key) || (inTls && TLS_FILE_KEYS.has(key))))
        found.add(resolve(dir, v));
      else walk(v, key === 'tls');
    }
  };
  walk(config, false);
  return [...found].sort();
}

/** Top-level and second-level keys whose values differ (names only: values may be secrets). */
export function changedKeys(before: unknown, after: unknown, prefix = '', depth = 2): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (depth === 0 || !isObject(before) || !isObject(after))
    return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '(root)'];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((k) => changedKeys(before[k], after[k], prefix ? `${prefix}.${k}` : k, depth - 1));
}

/** Config re-reads since the process started, by outcome (exported as switchyard_config_reloads_total). */
export const configReloads = { applied: 0, invalid: 0 };

export interface ConfigWatchOptions {
  /** Quiet time after the last change before `onChange` runs (editors write in several steps). */
  debounceMs: number;
  log: Logger;
  /** Called once per burst of changes with the paths that changed. */
  onChange(paths: string[]): void;
}

/**
 * Watches the config file and the files it reads, and each one's directory for symlink swaps (a
 * Kubernetes ConfigMap or Secret mount replaces its `..data` symlink; the file paths themselves never
 * change). Other files in those directories (for example a rendered haproxy.cfg beside its template)
 * are ignored, so the router's own writes never trigger a reload.
 */
export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private watched = new Set<string>();
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConfigWatchOptions) {}

  /** Starts or re-targets the watch: `files` replaces the previous list. */
  async watch(files: readonly string[]): Promise<void> {
    await this.close();
    this.watched = new Set(files.map((f) => resolve(f)));
    const dirs = new Set([...this.watched].map((f) => dirname(f)));
    const watcher = watch([...this.watched, ...dirs], {
      ignoreInitial: true,
      depth: 0,
      followSymlinks: false,
    });
    watcher.on('all', (_event, path) => this.onEvent(resolve(path)));
    watcher.on('error', (err) => this.options.log.warn({ err: String(err) }, 'config watch error'));
    this.watcher = watcher;
    await new Promise<void>((ready) => watcher.once('ready', () => ready()));
  }

  private onEvent(path: string): void {
    const isSwap =
      basename(path).startsWith('..') && [...this.watched].some((f) => dirname(f) === dirname(path));
    if (!this.watched.has(path) && !isSwap) return;
    this.pending.add(path);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const paths = [...this.pending].sort();
      this.pending.clear();
      this.options.onChange(paths);
    }, this.options.debounceMs);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.pending.clear();
    const watcher = this.watcher;
    this.watcher = null;
    await watcher?.close();
  }
}
