import type { Command } from 'commander';
import { buildClusterState } from '../cluster/index.js';
import { loadRouterConfig, etcdConnection } from '../config/router.js';
import { readOnce } from '../dcs/snapshot.js';
import { readIfExists, renderFile } from '../render/index.js';
import { computeView, type RouteView } from '../route/view.js';
import { silentLogger } from '../log.js';
import { createTargets } from '../router/start.js';
import { isRenderable, type RouteSnapshot, type Target } from '../targets/types.js';
import { unifiedDiff } from './diff.js';

export const RENDER_EXIT = { ok: 0, error: 1, config: 2, wouldChange: 3 } as const;

/** `switchyard render`: one read of etcd, one render of every file target; for config management. */
export function register(program: Command): void {
  program
    .command('render')
    .description('read the cluster keys once and render every file target (no reload, no runtime API)')
    .requiredOption('-c, --config <file>', 'router configuration (YAML)')
    .option('--dry-run', 'write nothing; with --diff show what would change')
    .option('--diff', 'print a unified diff against each live file')
    .addHelpText(
      'after',
      '\nEach file is validated by its check command before it replaces the live one.\n' +
        'Exit codes: 0 rendered (or nothing to change), 1 error (etcd, template, failed check),\n' +
        '            2 invalid config, 3 --dry-run and at least one file would change.\n',
    )
    .action(async (opts: { config: string; dryRun?: boolean; diff?: boolean }) => {
      const config = loadRouterConfig(opts.config);
      // One read through the same v3/v2 path as the router (dcs.type: etcd3 or etcd).
      const scopes = await readOnce(
        config.dcs.type,
        etcdConnection(config),
        config.namespace,
        config.clusters,
      );
      const views = new Map<string, RouteView>();
      for (const [scope, keys] of scopes) {
        const state = buildClusterState(scope, keys.values());
        for (const invalid of state.invalid)
          process.stderr.write(`ignored ${scope}/${invalid.key}: ${invalid.reason}\n`);
        views.set(scope, {
          ...computeView(state, { maxReplicaLagBytes: config.routing.maxReplicaLagBytes }),
          generation: 1,
        });
      }
      const snapshot = { generation: 1, views, dcs: { isConnected: true, lastContactAt: Date.now() } };
      // Targets are built (inert: validate only) and never started: render acts on files, not on the host.
      const targets = createTargets(config, silentLogger());
      const checks = config.targets as Record<string, { check?: string | null } | undefined>;
      const isChangePending = await renderTargets(targets, snapshot, {
        isDryRun: opts.dryRun === true,
        isDiff: opts.diff === true,
        checkOf: (name) => checks[name]?.check ?? undefined,
      });
      process.exitCode = opts.dryRun && isChangePending ? RENDER_EXIT.wouldChange : RENDER_EXIT.ok;
    });
}

export interface RenderTargetsOptions {
  readonly isDryRun: boolean;
  readonly isDiff: boolean;
  /** The check command of a target's files, by target name. */
  readonly checkOf: (target: string) => string | undefined;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

/**
 * Renders the files of every renderable target for one snapshot: validated and written, or with
 * `isDryRun` only compared. Never calls `start`, `apply` or `close`: one-shot commands do not act on the
 * host (no VIP change, no reload, no runtime API). Returns whether any file differs from the live one.
 */
export async function renderTargets(
  targets: readonly Target[],
  snapshot: RouteSnapshot,
  options: RenderTargetsOptions,
): Promise<boolean> {
  const out = options.stdout ?? ((text: string) => process.stdout.write(text));
  const err = options.stderr ?? ((text: string) => process.stderr.write(text));
  let isChangePending = false;
  for (const target of targets.filter(isRenderable)) {
    for (const file of await target.preview(snapshot)) {
      const live = await readIfExists(file.path);
      if (live === file.contents) {
        err(`${file.path}: unchanged\n`);
        continue;
      }
      isChangePending = true;
      if (options.isDiff) out(unifiedDiff(live ?? '', file.contents, file.path));
      if (options.isDryRun) {
        err(`${file.path}: would change\n`);
        continue;
      }
      await renderFile({
        path: file.path,
        contents: file.contents,
        mode: file.mode,
        owner: file.owner,
        check: options.checkOf(target.name),
      });
      err(`${file.path}: written\n`);
    }
  }
  return isChangePending;
}
