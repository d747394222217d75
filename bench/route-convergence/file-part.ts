// Part 3 (issue 2's figure): the router without `runtime_api`, so every leader change is render →
// `haproxy -c` on the staged file → rename → `kill -USR2` to the master → a new worker. Measured from
// outside: a client connection through the listener reaches the new node.
import { freePort, waitFor } from '../../test/harness/index.js';
import { IdentityNode, waitApplied, whoAnswers } from '../../test/harness/router.js';
import { BUILD_DIR, startCompiledRouter } from './router.js';
import { msUntil, sleep, summarize, type Summary } from '../lib/stats.js';
import { SyntheticBed } from './synthetic.js';

export interface FilePartResult {
  settings: Record<string, unknown>;
  /** Leader key deleted → a connection through the listener no longer reaches the old node (ms). */
  fence: Summary & { samples: number[] };
  /** New leader key → a connection through the listener reaches the new node (ms). */
  route: Summary & { samples: number[] };
  /** Per change: what a client reached while no member held the leader key. */
  noLeader: NoLeaderWindow[];
  timeouts: number;
}

export interface NoLeaderWindow {
  /** Connections that reached a node (any node) while there was no leader. */
  nodeAnswers: number;
  nodes: string[];
  /** Since the leader key was deleted (ms), or null. */
  lastNodeAnswerMs: number | null;
  /** Since the leader key was deleted until three closed connections in a row (ms), or null after 15 s. */
  closedAfterMs: number | null;
}

/** Connects every ~5 ms until three connections in a row are closed without reaching a node (15 s bound). */
async function noLeaderWindow(port: number, since: number): Promise<NoLeaderWindow> {
  const w: NoLeaderWindow = { nodeAnswers: 0, nodes: [], lastNodeAnswerMs: null, closedAfterMs: null };
  let closedInRow = 0;
  for (let i = 0; i < 3000 && performance.now() - since < 15_000; i++) {
    const answer = await whoAnswers(port, 1000);
    if (/^pg\d$/.test(answer)) {
      closedInRow = 0;
      w.nodeAnswers++;
      if (!w.nodes.includes(answer)) w.nodes.push(answer);
      w.lastNodeAnswerMs = Math.round(performance.now() - since);
    } else if (++closedInRow >= 3) {
      w.closedAfterMs = Math.round(performance.now() - since);
      return w;
    }
    await sleep(5);
  }
  return w;
}

/** Connects through `port` every ~5 ms until `done(answer)`; returns ms since `since`, or null after `limitMs`. */
/** ms until `done(answer)` for a connection through `port` (every ~5 ms); null after `limitMs`. */
const pollAnswer = (port: number, done: (answer: string) => boolean, since: number, limitMs = 10_000) =>
  msUntil(() => whoAnswers(port, 1000), done, since, { limitMs, intervalMs: 5, maxReads: 5000 });

export async function runFilePart(opts: {
  changes: number;
  log: (line: string) => void;
}): Promise<FilePartResult> {
  const bed = await SyntheticBed.start('route-bench-file', '/filemode');
  const { etcd, group, keys } = bed;
  const nodes: IdentityNode[] = [];
  try {
    // Stand-in nodes answer each connection with their name; their REST check says primary only for
    // the current leader, so HAProxy's own checks agree with the router (and are far slower: 3 s).
    for (const name of ['pg1', 'pg2', 'pg3'])
      nodes.push(await new IdentityNode(name, () => keys.leaderOf('fm') === name).start());
    await keys.create(
      'fm',
      nodes.map((n) => ({ port: n.port, apiPort: n.apiPort })),
    );
    const port = await freePort();
    const dir = group.dir;
    const config = {
      dcs: { type: 'etcd3', hosts: etcd.endpoints },
      namespace: '/filemode',
      clusters: ['fm'],
      targets: {
        haproxy: {
          output: `${dir}/haproxy.cfg`,
          check: 'haproxy -c -q -f {{file}}',
          reload: `kill -USR2 $(cat ${dir}/haproxy.pid)`,
          frontends: { fm: { primary: `127.0.0.1:${port}` } },
        },
      },
    };
    const router = await startCompiledRouter(BUILD_DIR, group, 'router', config);
    await bed.startHaproxy(router.api, { appliedMs: 15_000 });
    await waitFor(async () => (await whoAnswers(port)) === 'pg1', {
      what: 'listener reaches pg1',
      timeoutMs: 15_000,
    });

    const fence: number[] = [];
    const route: number[] = [];
    const noLeader: NoLeaderWindow[] = [];
    let timeouts = 0;
    for (let i = 0; i < opts.changes; i++) {
      const old = keys.leaderOf('fm') as string;
      const names = keys.memberNames('fm');
      const next = names[(names.indexOf(old) + 1) % names.length] as string;
      let t = performance.now();
      await keys.releaseLeader('fm');
      const f = await pollAnswer(port, (a) => a !== old, t);
      // No leader: the listener should have no server. Record what answers until connections are closed
      // (three in a row), so the route below starts from an empty listener.
      const window = await noLeaderWindow(port, t);
      noLeader.push(window);
      await waitApplied(router.api, 15_000);
      t = performance.now();
      await keys.takeLeader('fm', next);
      const r = await pollAnswer(port, (a) => a === next, t);
      if (f === null || r === null) timeouts++;
      if (f !== null) fence.push(Math.round(f));
      if (r !== null) route.push(Math.round(r));
      opts.log(
        `file mode ${i + 1}/${opts.changes} ${old}→${next}: fence ${f?.toFixed(0)} ms, route ${r?.toFixed(0)} ms; ` +
          `without a leader ${window.nodeAnswers} connections reached ${window.nodes.join(',') || 'no node'} (last at ${window.lastNodeAnswerMs} ms)`,
      );
      await keys.setRole('fm', old, 'replica');
      await waitApplied(router.api, 15_000);
      await sleep(300);
    }
    return {
      settings: {
        router:
          'no runtime_api: render, `haproxy -c -q -f` on the staged file, fsync + rename, `kill -USR2 <master pid>`',
        haproxy: 'master-worker (-W), one listener, 3 stand-in TCP nodes that answer with their name',
        measurement: 'a new TCP connection through the listener every ~5 ms until the new node answers',
      },
      fence: { ...summarize(fence), samples: fence },
      route: { ...summarize(route), samples: route },
      noLeader,
      timeouts,
    };
  } finally {
    await bed.stop();
    for (const n of nodes) await n.stop();
  }
}
