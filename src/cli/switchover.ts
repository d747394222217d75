import type { Command } from 'commander';
import { buildClusterState, type ClusterState } from '../cluster/index.js';
import { loadRouterConfig, type RouterConfig, etcdConnection } from '../config/router.js';
import { openSnapshotReader, type SnapshotReader } from '../dcs/snapshot.js';
import { PatroniRest, RestError, restAuthFrom } from '../rest/patroni.js';
import { SwitchyardError, describeError } from '../errors.js';
import { silentLogger } from '../log.js';
import { computeView, writer, type RouteView } from '../route/view.js';
import { probeOnce, probeSettingsOf } from '../router/probe.js';
import { PgBouncerTarget } from '../targets/pgbouncer/index.js';
import { removeMarker, writeMarker } from '../targets/pgbouncer/marker.js';
import { resolvePgBouncerOptions } from '../targets/pgbouncer/options.js';
import { writeDatabases, clustersOf } from '../targets/pgbouncer/routes.js';

export interface SwitchoverOptions {
  config: string;
  cluster: string;
  candidate?: string | undefined;
  /** ISO 8601 with a timezone; Patroni runs the switchover then, and the databases are paused just before. */
  scheduled?: string | undefined;
  /** Bound of the pause window (PAUSE → RESUME), seconds. */
  timeoutSeconds: number;
  restUsername?: string | undefined;
  restPasswordEnv?: string | undefined;
  restPasswordFile?: string | undefined;
  /** Seconds to pause before a scheduled switchover (default 1). */
  pauseLeadSeconds?: number;
}

/**
 * How often the keys and the new leader are looked at while PgBouncer is paused: every poll the pause
 * lasts past the new primary's first accepted write is paid by every waiting client (20 ms, the
 * router's own probe interval; 50 ms added ~25 ms per switchover on average).
 */
const POLL_MS = 20;

class SwitchoverError extends SwitchyardError {
  override name = 'SwitchoverError';
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super('SY_ERR_SWITCHOVER', message, options);
  }
}

/** Prints one line per step with the time since the start. */
class Steps {
  private readonly started = Date.now();
  constructor(private readonly out: NodeJS.WritableStream) {}
  get elapsed(): number {
    return Date.now() - this.started;
  }
  say(text: string): void {
    this.out.write(`[${String(this.elapsed).padStart(6)} ms] ${text}\n`);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolveSleep();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function readClusters(
  reader: SnapshotReader,
  config: RouterConfig,
  scopes: readonly string[],
): Promise<Map<string, ClusterState>> {
  const raw = await reader.read(config.namespace, scopes);
  const out = new Map<string, ClusterState>();
  for (const scope of scopes)
    out.set(scope, buildClusterState(scope, (raw.get(scope) ?? new Map()).values()));
  return out;
}

/** A proven-writable leader (by the configured probe), for computeView's writable gate. */
type Probed = { name: string; leaderRevision: number; isWritable: boolean } | undefined;

function viewOf(state: ClusterState, config: RouterConfig, generation: number, probe?: Probed): RouteView {
  return {
    ...computeView(state, { maxReplicaLagBytes: config.routing.maxReplicaLagBytes, probe }),
    generation,
  };
}

interface RestOutcome {
  status: number | null;
  body: string;
  error: string | null;
  code: string | null;
}

/** POST/DELETE /switchover on the leader's REST API; never throws, bounded by `signal` and `timeoutMs`. */
async function callPatroni(
  rest: PatroniRest,
  apiUrl: string,
  method: 'POST' | 'DELETE',
  body: object | undefined,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<RestOutcome> {
  try {
    const answer = await rest.request(apiUrl, method, '/switchover', { body, timeoutMs, signal });
    return { status: answer.status, body: answer.body.slice(0, 300), error: null, code: null };
  } catch (err) {
    return {
      status: null,
      body: '',
      error: describeError(err),
      code: err instanceof RestError ? err.code : null,
    };
  }
}

/**
 * Planned switchover that clients do not notice: PAUSE the cluster's PgBouncer databases → POST
 * /switchover to the leader's Patroni REST API → follow the keys until a new leader is writable →
 * repoint (write + RELOAD + verify) → RESUME. Every step is bounded; on any failure, timeout or signal the
 * databases are resumed before returning. Returns the exit code; prints each step with its time.
 */
export async function runSwitchover(
  opts: SwitchoverOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const config = loadRouterConfig(opts.config);
  const pgbConfig = config.targets.pgbouncer;
  if (!pgbConfig)
    throw new SwitchoverError(
      `${config.path} has no targets.pgbouncer: there is nothing to pause (use patronictl switchover)`,
      { exitCode: 2 },
    );
  const databases = writeDatabases(pgbConfig, opts.cluster);
  if (databases.length === 0) {
    throw new SwitchoverError(
      `targets.pgbouncer in ${config.path} routes no database of cluster ${opts.cluster}`,
      { exitCode: 2 },
    );
  }
  const scheduledAt = opts.scheduled ? Date.parse(opts.scheduled) : null;
  if (
    opts.scheduled &&
    (scheduledAt === null || Number.isNaN(scheduledAt) || !/(Z|[+-]\d\d:?\d\d)$/.test(opts.scheduled))
  ) {
    throw new SwitchoverError(
      `--scheduled ${JSON.stringify(opts.scheduled)} is not an ISO 8601 time with a timezone (e.g. 2026-11-22T18:00:00+00:00)`,
      { exitCode: 2 },
    );
  }
  // The command applies once; the router (if running) watches the leader's liveness.
  const pgbOptions = resolvePgBouncerOptions(
    { ...pgbConfig, liveness: { ...pgbConfig.liveness, enabled: false } },
    config.dir,
  );
  const rest = new PatroniRest({
    auth: restAuthFrom({
      username: opts.restUsername,
      passwordEnv: opts.restPasswordEnv,
      passwordFile: opts.restPasswordFile,
    }),
  });
  const steps = new Steps(out);
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    steps.say(`${sig}: stopping, resuming PgBouncer`);
    abort.abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  const reader = await openSnapshotReader(config.dcs.type, etcdConnection(config));
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const target = new PgBouncerTarget(pgbOptions, { log: silentLogger(), now: Date.now });
  const scopes = clustersOf(pgbConfig);
  let pausedAt: number | null = null;
  let isDone = false;
  let restUrl: string | null = null;
  let apiUrl: string | null = null;
  let isScheduled = false;
  let sawRelease = false;
  try {
    // 1. Who leads now, and may we switch over?
    const state = (await readClusters(reader, config, [opts.cluster])).get(opts.cluster) as ClusterState;
    const old = viewOf(state, config, 1).leader;
    if (!old || !old.isWritable) {
      throw new SwitchoverError(
        `cluster ${opts.cluster} has no writable leader (${old?.reason ?? 'no leader key'}); nothing to switch over`,
        { exitCode: 2 },
      );
    }
    const member = state.members.get(old.name);
    if (!member?.api)
      throw new SwitchoverError(`leader ${old.name} publishes no api_url; cannot reach its REST API`, {
        exitCode: 2,
      });
    if (opts.candidate !== undefined) {
      if (opts.candidate === old.name)
        throw new SwitchoverError(`candidate ${opts.candidate} is already the leader`, { exitCode: 2 });
      if (!state.members.has(opts.candidate))
        throw new SwitchoverError(`candidate ${opts.candidate} is not a member of ${opts.cluster}`, {
          exitCode: 2,
        });
    }
    apiUrl = member.api.url;
    restUrl = new URL('/switchover', member.api.url).toString();
    const body = {
      leader: old.name,
      ...(opts.candidate ? { candidate: opts.candidate } : {}),
      ...(opts.scheduled ? { scheduled_at: opts.scheduled } : {}),
    };
    steps.say(
      `switchover of ${opts.cluster}: leader ${old.name} (${old.host}:${old.port})${opts.candidate ? `, candidate ${opts.candidate}` : ''}; PgBouncer databases ${databases.join(', ')}`,
    );

    // 2. A scheduled switchover is registered first; the pause starts just before its time.
    let pending: Promise<RestOutcome> | null = null;
    if (scheduledAt !== null) {
      const r = await callPatroni(rest, apiUrl, 'POST', body, pgbConfig.timeouts.command_ms, abort.signal);
      if (r.status !== 202 && r.status !== 200)
        throw new SwitchoverError(
          `Patroni refused the scheduled switchover: ${r.status ?? r.error} ${r.body}`,
        );
      isScheduled = true;
      steps.say(`Patroni scheduled the switchover for ${opts.scheduled}: ${r.body}`);
      const waitMs = scheduledAt - Date.now() - (opts.pauseLeadSeconds ?? 1) * 1000;
      if (waitMs > 24 * 3600_000)
        throw new SwitchoverError(
          '--scheduled is more than 24 h ahead; schedule it with patronictl and run this closer to the time',
        );
      if (waitMs > 0) {
        steps.say(`waiting ${Math.round(waitMs / 1000)} s until just before the scheduled time`);
        await sleep(waitMs, abort.signal);
      }
      if (abort.signal.aborted) throw new SwitchoverError('interrupted before the scheduled time');
    }

    // 3. PAUSE (a stall is cancelled by the control; then nothing is requested).
    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    await writeMarker(pgbOptions.output, { cluster: opts.cluster, databases, deadlineAt: deadline + 5000 });
    pausedAt = Date.now();
    const outcomes = await Promise.all(
      databases.map((db) => target.control.pause(db, pgbConfig.timeouts.pause_ms).then((o) => ({ db, o }))),
    );
    const stalled = outcomes.filter(({ o }) => !o.isPaused);
    if (stalled.length > 0) {
      throw new SwitchoverError(
        `PAUSE of ${stalled.map((s) => s.db).join(', ')} stalled after ${pgbConfig.timeouts.pause_ms} ms (a long transaction holds a server connection); no switchover was requested`,
      );
    }
    steps.say(`paused ${databases.join(', ')} (PAUSE took ${Math.max(...outcomes.map(({ o }) => o.ms))} ms)`);

    // 4. Ask Patroni, and follow the keys meanwhile.
    if (scheduledAt === null) {
      steps.say(`POST ${restUrl} ${JSON.stringify(body)}`);
      pending = callPatroni(rest, apiUrl, 'POST', body, opts.timeoutSeconds * 1000, abort.signal);
    }
    let restResult: RestOutcome | null = null;
    void pending?.then((r) => {
      restResult = r;
      steps.say(`Patroni answered ${r.status ?? `no answer (${r.error})`}${r.body ? `: ${r.body}` : ''}`);
    });
    let holder: string | null = null;
    let views = new Map<string, RouteView>();
    let generation = 1;
    let probed: Probed;
    const probe = config.routing.writable_probe;
    while (true) {
      if (abort.signal.aborted) throw new SwitchoverError('interrupted');
      if (Date.now() >= deadline) {
        throw new SwitchoverError(
          `no new writable leader within ${opts.timeoutSeconds} s${sawRelease ? ` (leader key released${holder ? `, now held by ${holder}` : ''})` : ` (${old.name} still holds the leader key)`}`,
        );
      }
      try {
        const states = await readClusters(reader, config, scopes);
        const leaderKey = states.get(opts.cluster)?.leader;
        // With writable_probe sql/rest the new leader counts as writable as soon as it proves it, not when
        // Patroni next rewrites its member key (up to loop_wait later).
        if (
          probe.method !== 'member' &&
          leaderKey &&
          leaderKey.name !== old.name &&
          probed?.leaderRevision !== leaderKey.modRevision
        ) {
          const candidateView = viewOf(states.get(opts.cluster) as ClusterState, config, generation);
          if (candidateView.leader && !candidateView.leader.isWritable) {
            const outcome = await probeOnce(candidateView.leader, probeSettingsOf(config), 500);
            if (outcome.isWritable)
              probed = { name: leaderKey.name, leaderRevision: leaderKey.modRevision, isWritable: true };
          }
        }
        views = new Map(
          [...states].map(([scope, s]) => [
            scope,
            viewOf(s, config, ++generation, scope === opts.cluster ? probed : undefined),
          ]),
        );
      } catch (err) {
        steps.say(`etcd read failed (${describeError(err)}); retrying`);
        await sleep(200, abort.signal);
        continue;
      }
      const v = views.get(opts.cluster) as RouteView;
      const name = v.leader?.name ?? null;
      if (!sawRelease && name !== old.name) {
        sawRelease = true;
        steps.say(`leader key released by ${old.name}`);
      }
      if (name !== null && name !== old.name && name !== holder) {
        holder = name;
        steps.say(`${name} holds the leader key`);
      }
      const w = writer(v);
      if (w && w.name !== old.name) {
        steps.say(`${w.name} is writable (${w.host}:${w.port})`);
        break;
      }
      const r = restResult as RestOutcome | null;
      if (
        r &&
        !sawRelease &&
        (r.status === null ? r.code !== 'SY_ERR_REST_TIMEOUT' && !abort.signal.aborted : r.status >= 400)
      ) {
        throw new SwitchoverError(`Patroni did not switch over: ${r.status ?? r.error} ${r.body}`.trim());
      }
      await sleep(POLL_MS, abort.signal);
    }

    // 5. Repoint (write + RELOAD + verify) and RESUME, through the same code as the router.
    const applied = await target.apply({
      generation,
      views,
      dcs: { isConnected: true, lastContactAt: Date.now() },
    });
    steps.say(applied.summary);
    for (const db of databases) await target.control.resume(db);
    isDone = true;
    steps.say(
      `done: ${opts.cluster} switched over to ${holder}; PgBouncer paused for ${Date.now() - pausedAt} ms`,
    );
    if (pending && !restResult) await Promise.race([pending, sleep(1000)]);
    return 0;
  } catch (err) {
    if (pausedAt !== null || !(err instanceof SwitchoverError) || err.exitCode !== 2)
      steps.say(`failed: ${describeError(err)}`);
    throw err;
  } finally {
    // A scheduled switchover that has not started must not run later without the pause: cancel it first.
    if (!isDone && isScheduled && !sawRelease && apiUrl) {
      const r = await callPatroni(
        rest,
        apiUrl,
        'DELETE',
        undefined,
        pgbConfig.timeouts.command_ms,
        new AbortController().signal,
      );
      steps.say(`cancelled the scheduled switchover: ${r.status ?? r.error} ${r.body}`.trim());
    }
    if (!isDone && pausedAt !== null) await resumeAll(target, databases, steps);
    await removeMarker(pgbOptions.output).catch(() => undefined);
    abort.abort();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await target.close().catch(() => undefined);
    await reader.close();
    await rest.close();
  }
}

/** RESUME every database, a few bounded attempts each: PgBouncer is never left paused by us. */
async function resumeAll(target: PgBouncerTarget, databases: readonly string[], steps: Steps): Promise<void> {
  for (const db of databases) {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const wasPaused = await target.control.resume(db);
        steps.say(wasPaused ? `resumed ${db}` : `${db} was not paused`);
        break;
      } catch (err) {
        steps.say(`RESUME ${db} failed (attempt ${attempt}/3): ${describeError(err)}`);
        if (attempt < 3) await sleep(500);
      }
    }
  }
}

export function register(program: Command): void {
  program
    .command('switchover')
    .description('planned switchover with the PgBouncer databases paused: clients wait instead of failing')
    .requiredOption('-c, --config <file>', 'router configuration (YAML) with targets.pgbouncer')
    .requiredOption('--cluster <scope>', 'Patroni scope to switch over')
    .option('--candidate <name>', 'member to promote (default: Patroni picks the healthiest)')
    .option('--scheduled <time>', 'ISO 8601 time with timezone; the pause starts 1 s before it')
    .option(
      '--timeout <seconds>',
      'longest pause window; past it PgBouncer is resumed and the command fails',
      '30',
    )
    .option('--rest-username <user>', 'Patroni REST basic auth user (restapi.authentication)')
    .option('--rest-password-env <name>', 'environment variable holding the REST password')
    .option('--rest-password-file <path>', 'file holding the REST password')
    .addHelpText(
      'after',
      '\nExit codes: 0 switched over and resumed; 1 failed (PgBouncer resumed, see the last lines); 2 refused before pausing.\n',
    )
    .action(
      async (o: {
        config: string;
        cluster: string;
        candidate?: string;
        scheduled?: string;
        timeout: string;
        restUsername?: string;
        restPasswordEnv?: string;
        restPasswordFile?: string;
      }) => {
        const timeoutSeconds = Number(o.timeout);
        if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 600) {
          throw new SwitchoverError(
            `Expected --timeout to be a number of seconds in (0, 600], got ${JSON.stringify(o.timeout)}`,
            { exitCode: 2 },
          );
        }
        process.exitCode = await runSwitchover({
          config: o.config,
          cluster: o.cluster,
          candidate: o.candidate,
          scheduled: o.scheduled,
          timeoutSeconds,
          restUsername: o.restUsername,
          restPasswordEnv: o.restPasswordEnv,
          restPasswordFile: o.restPasswordFile,
        });
      },
    );
}
