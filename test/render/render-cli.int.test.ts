import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { ProcessGroup, freePorts, run, startEtcd, type EtcdCluster } from '../harness/index.js';
import { PatroniKeys, ROOT, memberValue } from '../harness/router.js';

// `switchyard render` is what config management runs on every host, the leader's included: it must
// write files and exit, never act on the host (issue 12: a dry run used to drop the VIP every 2 s).
let etcd: EtcdCluster;
let keys: PatroniKeys;
let group: ProcessGroup;

before(async () => {
  group = ProcessGroup.create('render-cli');
  etcd = await startEtcd();
  keys = new PatroniKeys(etcd.endpoints, 'app');
  await keys.config();
  await keys.member('pg1', memberValue({ port: 5432, apiPort: 8008, role: 'replica' }));
  // No leader key: a running VIP target would release the VIP.
});

after(async () => {
  await keys?.close();
  await etcd?.stop();
  await group?.cleanup();
});

/** A fake program that appends its argv to `log`; `ip -j addr show` reports the VIP as present. */
function recordingFake(name: string, log: string, stdout: string): string {
  const path = group.writeFile(
    name,
    `#!/bin/sh\necho "$*" >> '${log}'\ncase "$*" in *"addr show"*) printf '%s\\n' '${stdout}' ;; esac\nexit 0\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

test('render --dry-run with a VIP target never adds or deletes the address and exits by itself', async () => {
  const ipLog = `${group.dir}/ip.log`;
  const shown = JSON.stringify([
    {
      ifname: 'syfake0',
      address: '02:00:00:00:00:01',
      addr_info: [{ family: 'inet', local: '10.254.0.100', prefixlen: 24 }],
    },
  ]);
  const [primaryPort] = (await freePorts(1)) as [number];
  const config = {
    dcs: { type: 'etcd3', hosts: etcd.endpoints },
    namespace: '/service',
    clusters: ['app'],
    api: { listen: '127.0.0.1:0' },
    targets: {
      haproxy: {
        output: `${group.dir}/haproxy.cfg`,
        frontends: { app: { primary: `127.0.0.1:${primaryPort}` } },
      },
      vip: {
        address: '10.254.0.100/24',
        interface: 'syfake0',
        cluster: 'app',
        member: 'pg1',
        ip_command: recordingFake('ip', ipLog, shown),
        announce: { sender: 'arping' },
        arping: { command: recordingFake('arping', ipLog, '') },
      },
    },
  };
  const routerYml = group.writeFile('router.yml', stringify(config));
  const started = Date.now();
  const result = await run(
    process.execPath,
    ['--import', 'tsx', 'src/cli/run.ts', 'render', '--config', routerYml, '--dry-run'],
    { cwd: ROOT, reject: false, timeoutMs: 20_000 },
  );
  assert.equal(result.timedOut, false, `render must exit by itself (ran ${Date.now() - started} ms)`);
  assert.equal(result.exitCode, 3, `a dry run whose file would change exits 3: ${result.stderr}`);
  assert.match(result.stderr, /haproxy\.cfg: would change/);
  assert.equal(existsSync(`${group.dir}/haproxy.cfg`), false, 'a dry run writes nothing');
  // Give a leaked loop the time of one VIP cycle to show itself.
  await new Promise((r) => setTimeout(r, 2500));
  const calls = existsSync(ipLog) ? readFileSync(ipLog, 'utf8') : '';
  assert.doesNotMatch(calls, /addr (add|del)/, `the fake ip recorded: ${calls}`);
  assert.doesNotMatch(calls, /-U|-A|-c /, 'no announcement was sent');
});
