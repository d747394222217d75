import type { Command } from 'commander';
import { loadRouterConfig } from '../config/router.js';
import { describeError } from '../errors.js';
import { createLogger } from '../log.js';
import { ConfigWatcher, changedKeys, configReloads, referencedFiles } from '../router/config-watch.js';
import { startRouter, type RunningRouter } from '../router/start.js';

/** `switchyard route`: the long-running router. SIGHUP re-reads the config; SIGTERM/SIGINT stop cleanly. */
export function register(program: Command): void {
  program
    .command('route')
    .description('follow the leader key in etcd and keep every configured target on the writable primary')
    .requiredOption('-c, --config <file>', 'router configuration (YAML)')
    .addHelpText(
      'after',
      '\nThe config file, its templates, password files and TLS files are watched: a change (or a\n' +
        'Kubernetes ConfigMap/Secret symlink swap) is applied like SIGHUP, after 500 ms of quiet.\n' +
        'Signals: SIGHUP re-reads the config (an invalid one is reported and the running config kept);\n' +
        'SIGTERM and SIGINT release every target (a VIP first) and exit 0.\n' +
        'Endpoints: GET /health, /ready, /status, /metrics on api.listen (default 127.0.0.1:8009).\n',
    )
    .action(async (opts: { config: string }) => {
      let config = loadRouterConfig(opts.config);
      const log = createLogger({ level: config.log.level });
      let running: RunningRouter = await startRouter(config, log);
      let isStopping = false;
      let chain: Promise<unknown> = Promise.resolve();

      const stop = async (code: number, why: string) => {
        if (isStopping) return;
        isStopping = true;
        log.info(`stopping: ${why}`);
        const timer = setTimeout(() => {
          log.error('stop took longer than 10 s; exiting');
          process.exit(code || 1);
        }, 10_000);
        await chain.catch(() => undefined);
        await watcher.close();
        await running.stop().catch((err) => log.error({ err: describeError(err) }, 'error while stopping'));
        clearTimeout(timer);
        log.flush?.();
        process.exit(code);
      };

      process.on('SIGTERM', () => void stop(0, 'SIGTERM'));
      process.on('SIGINT', () => void stop(0, 'SIGINT'));
      process.on('uncaughtException', (err) => {
        log.fatal({ err: describeError(err), stack: err.stack }, 'uncaught exception');
        void stop(1, 'fatal error');
      });
      process.on('unhandledRejection', (err) => {
        log.fatal({ err: describeError(err) }, 'unhandled rejection');
        void stop(1, 'fatal error');
      });
      const watcher = new ConfigWatcher({
        debounceMs: 500,
        log,
        onChange: (paths) => reload(`changed on disk: ${paths.join(', ')}`),
      });
      const watchFiles = () => [opts.config, ...referencedFiles(config, config.dir)];
      const reload = (why: string) => {
        chain = chain.then(async () => {
          let next;
          try {
            next = loadRouterConfig(opts.config);
          } catch (err) {
            log.error(
              { err: describeError(err), problems: (err as { problems?: string[] }).problems, why },
              'new config is invalid; keeping the running one',
            );
            configReloads.invalid++;
            return;
          }
          const changed = changedKeys(config, next);
          configReloads.applied++;
          log.info({ why, changed }, `applying the new config (changed: ${changed.join(', ') || 'nothing'})`);
          // Targets the new config keeps are detached, not released: a VIP stays up through a reload.
          const kept = new Set(
            Object.keys(next.targets).filter(
              (k) => (next.targets as Record<string, unknown>)[k] !== undefined,
            ),
          );
          await running.stop(kept);
          config = next;
          running = await startRouter(config, log);
          await watcher.watch(watchFiles());
        });
      };
      process.on('SIGHUP', () => reload('SIGHUP'));
      await watcher.watch(watchFiles());
      await new Promise(() => undefined); // runs until a signal ends the process
    });
}
