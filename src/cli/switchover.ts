import type { Command } from 'commander';
import { buildClusterState } from '../cluster/index.js';
import { loadRouterConfig, etcdConnection } from '../config/router.js';
import { readOnce } from '../dcs/snapshot.js';
import { PatroniRest, restAuthFrom } from '../rest/patroni.js';
import { describeError } from '../errors.js';
import { silentLogger } from '../log.js';
import { computeView, writer, type RouteView } from '../route/view.js';
import { PgBouncerTarget } from '../targets/pgbouncer/index.js';
import { resolvePgBouncerOptions } from '../targets/pgbouncer/options.js';
import { writeDatabases, clustersOf } from '../targets/pgbouncer/routes.js';
import { SwitchoverError, Steps, sleep } from './switchover/common.js';
import { ViewFollower } from './switchover/follow.js';
import { PauseWindow } from './switchover/pause.js';
import { cancelSwitchover, requestSwitchover, type RestOutcome } from './switchover/rest.js';
import { presumeWritable, repoint } from './switchover/repoint.js';
import { StopHandshake, canRunBeforeStop, hasDrainTag } from '../dcs/drain.js';

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

/** Longest wait for one change of the followed views before the loop looks at deadlines and Patroni's answer. */
const WAIT_SLICE_MS = 50;

/**
 * Planned switchover that clients do not notice: PAUSE the cluster's PgBouncer databases → POST
 * /switchover to the leader's Patroni REST API → follow the keys (the router's own loop: watch, views,
 * writable probe) until a new leader is writable → repoint (write + RELOAD + verify) → RESUME. Every step
 * is bounded; on any failure, timeout or signal the databases are resumed before returning. Returns the
 * exit code; prints each step with its time.
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
  const pgbOptions = resolvePgBouncerOptions(pgbConfig, config.dir);
  const steps = new Steps(out);
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    steps.say(`${sig}: stopping, resuming PgBouncer`);
    abort.abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  // 1. Who leads now, and may we switch over? (one read; the same state → view steps as the router)
  const keys = await readOnce(config.dcs.type, etcdConnection(config), config.namespace, [opts.cluster]);
  const state = buildClusterState(opts.cluster, (keys.get(opts.cluster) ?? new Map()).values());
  const current = computeView(state, { maxReplicaLagBytes: config.routing.maxReplicaLagBytes });
  const old = current.leader;
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
  const apiUrl = member.api.url;
  const restUrl = new URL('/switchover', member.api.url).toString();
  const body = {
    leader: old.name,
    ...(opts.candidate ? { candidate: opts.candidate } : {}),
    ...(opts.scheduled ? { scheduled_at: opts.scheduled } : {}),
  };

  const rest = new PatroniRest({
    auth: restAuthFrom({
      username: opts.restUsername,
      passwordEnv: opts.restPasswordEnv,
      passwordFile: opts.restPasswordFile,
    }),
  });
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const target = new PgBouncerTarget(pgbOptions, { log: silentLogger(), now: Date.now });
  const pause = new PauseWindow(target, pgbOptions.output, opts.cluster, old.name, databases, steps);
  const follower = new ViewFollower(config, clustersOf(pgbConfig));
  let isDone = false;
  let isScheduled = false;
  let sawRelease = false;
  /** The member the paused databases were routed to ahead of time (5a), before it was proven writable. */
  let prepointed: string | null = null;
  const handshakeWanted = scheduledAt === null && config.dcs.type === 'etcd3' && hasDrainTag(member.tags);
  let handshake: StopHandshake | null = null;
  let stopAnnounced = false;
  /** Who takes over, as the old leader's stop announcement named it (null: not named). */
  let announcedCandidate: string | null = null;
  try {
    await follower.open();
    // Render once now (template and lazily loaded modules), so the repoint while clients are paused does
    // not pay for the first render (measured: up to ~100 ms in a fresh process on a busy machine).
    await target.preview({
      generation: 0,
      views: new Map([[opts.cluster, { ...current, generation: 0 }]]),
      dcs: { isConnected: true, lastContactAt: Date.now() },
    });
    steps.say(
      `switchover of ${opts.cluster}: leader ${old.name} (${old.host}:${old.port})${opts.candidate ? `, candidate ${opts.candidate}` : ''}; PgBouncer databases ${databases.join(', ')}`,
    );

    // 2. A scheduled switchover is registered first; the pause starts just before its time.
    let pending: Promise<RestOutcome> | null = null;
    if (scheduledAt !== null) {
      const r = await requestSwitchover(rest, apiUrl, body, pgbConfig.timeouts.command_ms, abort.signal);
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

    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    if (handshakeWanted) {
      // 3a. The leader's before_stop hook will wait for our PAUSE: pause at its stop, not before the POST.
      handshake = await StopHandshake.open(etcdConnection(config), config.namespace, opts.cluster);
      await handshake.arm(old.name, deadline);
      steps.say(`armed the stop handshake: ${old.name}'s before_stop hook waits for the PAUSE`);
      void handshake.stopping(deadline - Date.now()).then((stopping) => {
        if (stopping) {
          stopAnnounced = true;
          announcedCandidate = stopping.candidate;
        }
        follower.wake();
      });
    } else {
      if (scheduledAt === null && canRunBeforeStop(member.version))
        steps.say(
          `hint: ${old.name} runs Patroni ${member.version}, which can hold its stop for the pause: with postgresql.before_stop set to \`switchyard before-stop -c patroni.yml\` and the tag switchyard_before_stop, clients would not be paused through its pre-stop work (docs/poolers.md)`,
        );
      else if (scheduledAt === null && /^\d+\.\d+\.\d+/.test(member.version ?? ''))
        steps.say(
          `hint: ${old.name} runs Patroni ${member.version}, which has no hook before its stop (postgresql.before_stop came in 3.0.3): clients stay paused through its pre-stop work (member checks, an HA loop, a CHECKPOINT). With Patroni 3.0.3 or later and \`switchyard before-stop\`, the pause would start at the stop (docs/poolers.md)`,
        );
      // 3b. PAUSE (a stall is cancelled by the control; then nothing is requested).
      await pause.pause(deadline, pgbConfig.timeouts.pause_ms);
    }

    // 4. Ask Patroni, and follow the views meanwhile.
    if (scheduledAt === null) {
      steps.say(`POST ${restUrl} ${JSON.stringify(body)}`);
      pending = requestSwitchover(rest, apiUrl, body, opts.timeoutSeconds * 1000, abort.signal);
    }
    let restResult: RestOutcome | null = null;
    void pending?.then((r) => {
      restResult = r;
      steps.say(`Patroni answered ${r.status ?? `no answer (${r.error})`}${r.body ? `: ${r.body}` : ''}`);
      follower.wake();
    });
    let holder: string | null = null;
    let seen = 0;
    while (true) {
      if (abort.signal.aborted) throw new SwitchoverError('interrupted');
      if (Date.now() >= deadline) {
        throw new SwitchoverError(
          `no new writable leader within ${opts.timeoutSeconds} s${sawRelease ? ` (leader key released${holder ? `, now held by ${holder}` : ''})` : ` (${old.name} still holds the leader key)`}`,
        );
      }
      const snapshot = follower.snapshot();
      seen = snapshot?.generation ?? 0;
      const v = snapshot?.views.get(opts.cluster);
      if (v) {
        const name = v.leader?.name ?? null;
        if (!sawRelease && name !== old.name) {
          sawRelease = true;
          steps.say(`leader key released by ${old.name}`);
        }
      }
      if (handshake && !pause.isPaused && (stopAnnounced || sawRelease)) {
        if (!stopAnnounced)
          steps.say(`${old.name} stopped without announcing it (is its before_stop hook set?): pausing now`);
        else steps.say(`${old.name} is about to stop PostgreSQL`);
        await pause.pause(deadline, pgbConfig.timeouts.pause_ms, { isRequested: true });
        if (stopAnnounced) await handshake.paused();
        // 5a, early: while the old primary stops, point the paused databases at the member that takes over.
        const next = announcedCandidate ?? opts.candidate ?? null;
        const presumed = snapshot && next !== null ? presumeWritable(snapshot, opts.cluster, next) : null;
        if (presumed && !sawRelease && (await repoint((s) => target.routeWhilePaused(s), presumed, steps))) {
          prepointed = next;
          steps.say(`pointed the paused databases at ${next} while ${old.name} stops`);
        }
      }
      if (v) {
        const name = v.leader?.name ?? null;
        if (name !== null && name !== old.name && name !== holder) {
          holder = name;
          steps.say(`${name} holds the leader key`);
        }
        const w = writer(v as RouteView);
        if (snapshot && !w && name !== null && name !== old.name && name !== prepointed) {
          // 5a. The new holder is not writable yet: point the paused databases at it now, so that only
          // RESUME is left once it is (clients stay paused until then; the router's gate is unchanged).
          const presumed = presumeWritable(snapshot, opts.cluster);
          const ahead = presumed && (await repoint((s) => target.routeWhilePaused(s), presumed, steps));
          if (ahead) {
            prepointed = name;
            steps.say(ahead.summary);
          }
        }
        if (snapshot && w && w.name !== old.name) {
          steps.say(`${w.name} is writable (${w.host}:${w.port})`);
          // 5b. Repoint and RESUME. After 5a only a check is left (SHOW DATABASES: the entries may have
          // changed meanwhile, e.g. by a router of an older version or on another host that ignores this
          // command's marker), so the paused path skips the router's full apply.
          const isRouted = prepointed === w.name && pause.isPaused;
          const applied = await repoint(
            (s) => (isRouted ? target.routeWhilePaused(s) : target.apply(s)),
            snapshot,
            steps,
          );
          if (!applied) {
            // Still paused; the next snapshot (or the wait slice) tries again, until the deadline.
            await follower.changed(seen, Math.min(WAIT_SLICE_MS, Math.max(1, deadline - Date.now())));
            continue;
          }
          steps.say(applied.summary);
          const pausedMs = pause.elapsed;
          await pause.resume();
          isDone = true;
          steps.say(`done: ${opts.cluster} switched over to ${w.name}; PgBouncer paused for ${pausedMs} ms`);
          if (pending && !restResult) await Promise.race([pending, sleep(1000)]);
          return 0;
        }
      }
      const r = restResult as RestOutcome | null;
      if (
        r &&
        !sawRelease &&
        (r.status === null ? r.code !== 'SY_ERR_REST_TIMEOUT' && !abort.signal.aborted : r.status >= 400)
      ) {
        throw new SwitchoverError(`Patroni did not switch over: ${r.status ?? r.error} ${r.body}`.trim());
      }
      await follower.changed(seen, Math.min(WAIT_SLICE_MS, Math.max(1, deadline - Date.now())));
    }
  } catch (err) {
    if (pause.isPaused || !(err instanceof SwitchoverError) || err.exitCode !== 2)
      steps.say(`failed: ${describeError(err)}`);
    throw err;
  } finally {
    // A scheduled switchover that has not started must not run later without the pause: cancel it first.
    if (!isDone && isScheduled && !sawRelease) {
      const r = await cancelSwitchover(rest, apiUrl, pgbConfig.timeouts.command_ms);
      steps.say(`cancelled the scheduled switchover: ${r.status ?? r.error} ${r.body}`.trim());
    }
    if (!isDone && prepointed !== null) await routeToWriter(target, follower, opts.cluster, steps);
    if (!isDone) await pause.resumeAll();
    await pause.removeMarker();
    await handshake?.close();
    abort.abort();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await follower.close().catch(() => undefined);
    await target.close().catch(() => undefined);
    await rest.close();
  }
}

/**
 * Failure path after 5a: the paused databases point at a key holder that never became writable here.
 * Before they are resumed, route them to whoever is writable now (the old leader may have taken the key
 * back); with no writable leader they stay where they are, and a running router repoints them later.
 */
async function routeToWriter(
  target: PgBouncerTarget,
  follower: ViewFollower,
  cluster: string,
  steps: Steps,
): Promise<void> {
  const snapshot = follower.snapshot();
  const v = snapshot?.views.get(cluster);
  if (!snapshot || !v || !writer(v)) return;
  try {
    steps.say((await target.apply(snapshot)).summary);
  } catch (err) {
    steps.say(`could not route ${cluster} back to its writable leader: ${describeError(err)}`);
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
