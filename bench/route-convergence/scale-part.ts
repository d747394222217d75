// Part 2: 500 synthetic clusters under one namespace, one router with `clusters: ["*"]` driving an
// HAProxy with one listener per cluster through the runtime API; member churn; leader changes measured
// from outside by polling `show servers state <backend>` on HAProxy's socket.
import { freePorts, haproxyCommand, waitFor } from '../../test/harness/index.js';
import { routerStatus, waitApplied } from '../../test/harness/router.js';
import { BUILD_DIR, startCompiledRouter } from './router.js';
import { parseServersState } from '../../src/targets/haproxy/runtime.js';
import { cpuPercent, msUntil, sampleProc, schedDelta, sleep, summarize, type Summary } from '../lib/stats.js';
import { Churn, SyntheticBed } from './synthetic.js';

export interface ScalePartResult {
  settings: Record<string, unknown>;
  startupMs: number;
  idleBefore: { cpuPercent: number; seconds: number };
  churn: {
    targetPerSecond: number;
    achievedPerSecond: number;
    writes: number;
    errors: number;
    cpuPercent: number;
    seconds: number;
    /** The router's JS thread while churning: ms running, ms runnable but waiting for a CPU. */
    sched: { runMs: number; runQueueWaitMs: number };
  };
  idleAfter: { cpuPercent: number; seconds: number };
  rssKb: { afterStart: number; afterChurn: number; peak: number };
  /** Leader key deleted → old server down (op state 0) in `show servers state` (ms). */
  fence: Summary & { samples: number[] };
  /** New leader key (create-only txn) → new server running (op state 2), old still down (ms). */
  route: Summary & { samples: number[] };
  /** Release, then the new leader key 20 ms later → new server running (ms). */
  backToBack: Summary & { samples: number[] };
  /** New leader key → the bench's own etcd watch saw it (ms): the floor this loaded machine sets. */
  watchSeen: Summary & { samples: number[] };
  /** Changes where a poll timed out (bounded at 5 s). */
  timeouts: number;
}

/** Polls `show servers state <backend>` every ~2 ms until `done(states)` holds; returns ms, or null after `limitMs`. */
const pollUntil = (
  socket: string,
  backend: string,
  done: (states: Map<string, { opState: number }>) => boolean,
  since: number,
  limitMs = 5000,
) =>
  msUntil(
    async () => {
      const text = await haproxyCommand(socket, `show servers state ${backend}`, 1000).catch(() => '');
      return new Map([...parseServersState(text).values()].map((s) => [s.server, s]));
    },
    done,
    since,
    { limitMs, intervalMs: 2, maxReads: limitMs },
  );

export async function runScalePart(opts: {
  clusters: number;
  changes: number;
  churnRate: number;
  backToBack: number;
  log: (line: string) => void;
}): Promise<ScalePartResult> {
  const bed = await SyntheticBed.start('route-bench-scale', '/scale');
  const { etcd, group, keys } = bed;
  try {
    // Servers point at one closed loopback port (no PostgreSQL behind them): only the runtime API matters.
    const [dummyPort, dummyApi, ...binds] = await freePorts(opts.clusters + 2);
    const scopes = Array.from({ length: opts.clusters }, (_, i) => `c${String(i).padStart(4, '0')}`);
    const address = { port: dummyPort as number, apiPort: dummyApi as number };
    for (let i = 0; i < scopes.length; i += 25) {
      await Promise.all(scopes.slice(i, i + 25).map((s) => keys.create(s, [address, address, address])));
    }
    const dir = group.dir;
    const socket = `${dir}/admin.sock`;
    const config = {
      dcs: { type: 'etcd3', hosts: etcd.endpoints },
      namespace: '/scale',
      clusters: ['*'],
      routing: { writable_probe: { method: 'member' } },
      targets: {
        haproxy: {
          output: `${dir}/haproxy.cfg`,
          runtime_api: socket,
          state_file: `${dir}/haproxy.state`,
          reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
          timeouts: { connect: '300ms' },
          // Checks would only fail against the dummy port and fight the router; 1h keeps them out of the way.
          checks: { inter: '1h' },
          frontends: Object.fromEntries(scopes.map((s, i) => [s, { primary: `127.0.0.1:${binds[i]}` }])),
        },
      },
    };
    const started = Date.now();
    const router = await startCompiledRouter(BUILD_DIR, group, 'router', config);
    await waitFor(
      async () => {
        const c = (await routerStatus(router.api)).clusters;
        return scopes.every((s) => c[s]?.writable === true);
      },
      { what: `router sees ${scopes.length} writable leaders`, timeoutMs: 60_000, intervalMs: 250 },
    );
    await bed.startHaproxy(router.api, { startMs: 60_000, appliedMs: 30_000 });
    const startupMs = Date.now() - started;
    const pid = router.proc.pid;
    await sleep(3000);
    const afterStart = sampleProc(pid).rssKb;

    const idle = async (seconds: number) => {
      const a = sampleProc(pid);
      await sleep(seconds * 1000);
      return { cpuPercent: cpuPercent(a, sampleProc(pid)), seconds };
    };
    const idleBefore = await idle(10);
    opts.log(
      `scale: ${scopes.length} clusters up in ${startupMs} ms; idle CPU ${idleBefore.cpuPercent.toFixed(1)} %`,
    );

    const churn = new Churn(keys, opts.churnRate, 600_000).start();
    const churnStart = sampleProc(pid);
    const fence: number[] = [];
    const route: number[] = [];
    const watchSeen: number[] = [];
    const backToBack: number[] = [];
    let timeouts = 0;
    let churnResult: Awaited<ReturnType<Churn['stop']>>;
    try {
      await sleep(3000);
      for (let i = 0; i < opts.changes; i++) {
        const scope = scopes[(i * 7919) % scopes.length] as string;
        const backend = `${scope}_primary`;
        const old = keys.leaderOf(scope) as string;
        const next = keys.memberNames(scope).find((n) => n !== old) as string;
        await keys.freeze(scope);
        try {
          let t = performance.now();
          await keys.releaseLeader(scope);
          const f = await pollUntil(socket, backend, (s) => s.get(old)?.opState === 0, t);
          // Let the router finish this apply (file + check) so the next one measures a new change alone.
          await waitApplied(router.api, 10_000);
          // Reference for this machine's scheduling noise: the same change seen by the bench's own watch.
          const watcher = await keys.client.watch().key(`/scale/${scope}/leader`).create();
          const seen = new Promise<number>((resolve) => watcher.on('put', () => resolve(performance.now())));
          t = performance.now();
          await keys.takeLeader(scope, next);
          const r = await pollUntil(
            socket,
            backend,
            (s) => s.get(next)?.opState === 2 && s.get(old)?.opState === 0,
            t,
          );
          const w = await Promise.race([seen, sleep(5000).then(() => null)]);
          await watcher.cancel().catch(() => undefined);
          if (w !== null) watchSeen.push(Math.round((w - t) * 10) / 10);
          if (f === null || r === null) timeouts++;
          if (f !== null) fence.push(Math.round(f * 10) / 10);
          if (r !== null) route.push(Math.round(r * 10) / 10);
          await keys.setRole(scope, old, 'replica');
          await waitApplied(router.api, 10_000);
        } finally {
          keys.thaw(scope);
        }
        await sleep(100);
      }
      // Back to back, as in a failover: the key is released and taken 20 ms later, so the new leader's
      // apply may wait for the fence's (runtime + file + `haproxy -c`).
      for (let i = 0; i < opts.backToBack; i++) {
        const scope = scopes[(i * 104_729 + 13) % scopes.length] as string;
        const backend = `${scope}_primary`;
        const old = keys.leaderOf(scope) as string;
        const next = keys.memberNames(scope).find((n) => n !== old) as string;
        await keys.freeze(scope);
        try {
          await keys.releaseLeader(scope);
          await sleep(20);
          const t = performance.now();
          await keys.takeLeader(scope, next);
          const r = await pollUntil(
            socket,
            backend,
            (s) => s.get(next)?.opState === 2 && s.get(old)?.opState === 0,
            t,
          );
          if (r === null) timeouts++;
          else backToBack.push(Math.round(r * 10) / 10);
          await keys.setRole(scope, old, 'replica');
          await waitApplied(router.api, 10_000);
        } finally {
          keys.thaw(scope);
        }
        await sleep(100);
      }
      await sleep(2000);
    } finally {
      churnResult = await churn.stop();
    }
    const churnEnd = sampleProc(pid);
    const afterChurn = churnEnd.rssKb;
    opts.log(
      `scale: churn ${churnResult.perSecond.toFixed(0)} writes/s, router CPU ${cpuPercent(churnStart, churnEnd).toFixed(1)} %, ` +
        `route median ${summarize(route).median} ms p99 ${summarize(route).p99} ms`,
    );
    await sleep(3000);
    const idleAfter = await idle(10);
    const peak = sampleProc(pid).hwmKb;
    return {
      settings: {
        clusters: scopes.length,
        membersPerCluster: 3,
        namespace: '/scale',
        routerClusters: ['*'],
        writable_probe: 'member (the bench writes role master in the same txn as the leader key)',
        haproxy: `${scopes.length} listeners, runtime API; checks inter 1h (servers point to a closed dummy port)`,
        measurement: 'show servers state <backend> polled every ~2 ms from outside',
      },
      startupMs,
      idleBefore,
      churn: {
        targetPerSecond: opts.churnRate,
        achievedPerSecond: Math.round(churnResult.perSecond),
        writes: churnResult.writes,
        errors: churnResult.errors,
        cpuPercent: cpuPercent(churnStart, churnEnd),
        seconds: (churnEnd.at - churnStart.at) / 1000,
        sched: schedDelta(churnStart, churnEnd),
      },
      idleAfter,
      rssKb: { afterStart, afterChurn, peak },
      fence: { ...summarize(fence), samples: fence },
      route: { ...summarize(route), samples: route },
      watchSeen: { ...summarize(watchSeen), samples: watchSeen },
      backToBack: { ...summarize(backToBack), samples: backToBack },
      timeouts,
    };
  } finally {
    await bed.stop();
  }
}
