import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';

export interface KeyWatch {
  /** Cancels the watch, including one still being created. */
  stop(): Promise<void>;
}

/**
 * Calls `onKey(relativeKey)` for every put or delete under `prefix`: a wake-up hint, not a source of
 * truth (the caller re-reads what it needs). A watch that cannot be created is retried every `retryMs()`;
 * a stream error is logged once per distinct message (etcd3 re-establishes the stream itself) and
 * cleared when the stream is connected again.
 */
export function watchKeys(
  client: Etcd3,
  prefix: string,
  onKey: (relativeKey: string) => void,
  options: { log: Logger; retryMs: () => number },
): KeyWatch {
  let watcher: Watcher | null = null;
  let isStopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let lastError: string | null = null;
  const report = (err: unknown, what: string) => {
    const message = describeError(err);
    if (message === lastError) return;
    lastError = message;
    options.log.warn({ err: message, prefix }, what);
  };
  const start = () => {
    client
      .watch()
      .prefix(prefix)
      .create()
      .then(
        (w) => {
          if (isStopped) {
            void w.cancel().catch(() => undefined);
            return;
          }
          watcher = w;
          const fire = (kv: { key: Buffer }) => onKey(kv.key.toString().slice(prefix.length));
          w.on('put', fire);
          w.on('delete', fire);
          w.on('connected', () => {
            lastError = null;
          });
          w.on('error', (err) =>
            report(err, 'etcd watch failed; it is re-established, state is still read every loop'),
          );
        },
        (err: unknown) => {
          report(err, 'cannot create the etcd watch; retrying');
          if (isStopped) return;
          retryTimer = setTimeout(start, options.retryMs());
          retryTimer.unref();
        },
      );
  };
  start();
  return {
    async stop() {
      isStopped = true;
      clearTimeout(retryTimer);
      await watcher?.cancel().catch(() => undefined);
      watcher = null;
    },
  };
}
