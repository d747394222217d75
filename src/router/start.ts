import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { etcdConnection, type RouterConfig } from '../config/router.js';
import { openSource, type OpenedSource } from '../dcs/source.js';
import { createApiServer, listen } from '../http/server.js';
import { TARGET_FACTORIES, type Target, type TargetCreateContext } from '../targets/index.js';
import { SwitchyardError, describeError } from '../errors.js';
import { createMetrics, registerTargetMetrics } from './metrics.js';
import { leaderHealthSettingsOf } from './leader-health/index.js';
import { Router } from './router.js';

export interface RunningRouter {
  router: Router;
  api: { host: string; port: number };
  /** Releases every target; `handover` names targets to detach instead (config reload keeps them). */
  stop(handover?: ReadonlySet<string>): Promise<void>;
}

/** Builds every configured target. Unknown keys were rejected by the schema already. */
export function createTargets(config: RouterConfig, log: Logger): Target[] {
  const ctx: TargetCreateContext = {
    log,
    now: Date.now,
    configDir: config.dir,
    clusters: config.clusters,
  };
  const targets: Target[] = [];
  for (const factory of TARGET_FACTORIES) {
    const section = config.targets[factory.key];
    if (section === undefined) continue;
    targets.push(factory.create(section as never, { ...ctx, log: log.child({ target: factory.key }) }));
  }
  if (targets.length === 0) throw new SwitchyardError('SY_ERR_TARGET_UNKNOWN', 'no targets configured');
  return targets;
}

/**
 * Starts the targets in order. When one fails, every target started so far and the failing one are
 * closed (a VIP already added is released, helper processes end) before the error is rethrown.
 */
export async function startTargets(targets: readonly Target[], log: Logger): Promise<void> {
  const touched: Target[] = [];
  try {
    for (const target of targets) {
      touched.push(target);
      await target.start();
    }
  } catch (err) {
    await Promise.all(
      touched.map((t) =>
        t
          .close()
          .catch((closeErr: unknown) =>
            log.error({ target: t.name, err: describeError(closeErr) }, 'target close failed'),
          ),
      ),
    );
    throw err;
  }
}

/** Starts source → router → targets and the HTTP API. `stop()` releases every target (VIPs first). */
export async function startRouter(config: RouterConfig, log: Logger): Promise<RunningRouter> {
  const metrics = createMetrics();
  for (const sentence of config.deprecations) log.warn(sentence);
  const health = leaderHealthSettingsOf(config);
  const targets = createTargets(config, log);
  await startTargets(targets, log);
  registerTargetMetrics(metrics, targets);
  const router = new Router(targets, {
    log,
    metrics,
    maxReplicaLagBytes: config.routing.maxReplicaLagBytes,
    onDcsLoss: config.routing.on_dcs_loss,
    probe: health.probe,
    liveness: health.liveness,
  });
  let server: Server | null = null;
  let opened: OpenedSource | null = null;
  try {
    server = createApiServer({
      status: () => router.status(),
      registry: metrics.registry,
      beforeMetrics: () => router.updateStaleness(),
    });
    const api = await listen(server, config.api.listen.host, config.api.listen.port);
    opened = await openSource(
      config.dcs.type,
      etcdConnection(config),
      {
        namespace: config.namespace,
        clusters: config.clusters,
        checkIntervalMs: config.dcs.check_interval_ms,
        log,
      },
      router,
    );
    const { source, close } = opened;
    source.start();
    log.info(
      { api: `${api.host}:${api.port}`, clusters: config.clusters, targets: targets.map((t) => t.name) },
      'router started',
    );
    const running: RunningRouter = {
      router,
      api,
      async stop(handover) {
        await router.close(handover);
        await source.stop();
        close();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      },
    };
    return running;
  } catch (err) {
    await router.close();
    await opened?.source.stop();
    opened?.close();
    server?.close();
    throw err;
  }
}
