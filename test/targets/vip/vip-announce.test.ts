import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  announce,
  assertCanAnnounce,
  detectArpingFlavour,
  flavourFromText,
  garpRuns,
} from '../../../src/targets/vip/announce.js';
import { vip4, vip6 } from './views.js';
import { answeringMacs, probeArgs, probeDuplicate } from '../../../src/targets/vip/probe.js';
import type { Exec, ExecResult } from '../../../src/targets/vip/exec.js';

/** What every announcement below shares: eth0, a 1 s deadline, Habets' arping and ndptool. */
const habetsBurst = {
  iface: 'eth0',
  timeoutMs: 1000,
  arping: { command: 'arping', flavour: 'habets' as const },
  ndptool: 'ndptool',
};

function fakeExec(respond: (args: readonly string[]) => Partial<ExecResult>): Exec & { calls: string[][] } {
  const calls: string[][] = [];
  const run: Exec = async (file, args) => {
    calls.push([file, ...args]);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...respond(args) };
  };
  return Object.assign(run, { calls });
}

const HABETS_SENT = (n: number) =>
  `ARPING 10.0.0.100\n\n--- 10.0.0.100 statistics ---\n${n} packets transmitted, 0 packets received, 100% unanswered (0 extra)\n`;

test('recognises both arping flavours from their own words', () => {
  assert.equal(
    flavourFromText('ARPing 2.23, by Thomas Habets <thomas@habets.se>\nusage: arping ...'),
    'habets',
  );
  assert.equal(flavourFromText('arping from iputils 20221126'), 'iputils');
  assert.equal(flavourFromText('busybox arping'), null);
});

test('detection names the program and what it printed when neither flavour matches', async () => {
  const exec = fakeExec(() => ({ exitCode: 1, stderr: 'BusyBox v1.36 arping' }));
  await assert.rejects(detectArpingFlavour(exec, '/bin/arping', 1000), {
    code: 'SY_ERR_VIP',
    message: `cannot tell which arping /bin/arping is (neither Thomas Habets' nor iputils in its --help/-V output: "BusyBox v1.36 arping"); set targets.vip.arping.flavour`,
  });
});

test("Habets' arping gets -S VIP for both requests and replies", () => {
  assert.deepEqual(garpRuns('habets', 'eth0', vip4, 5, 20), [
    {
      kind: 'request',
      args: ['-U', '-c', '5', '-W', '0.02', '-i', 'eth0', '-S', '10.0.0.100', '10.0.0.100'],
    },
    {
      kind: 'reply',
      args: ['-U', '-P', '-c', '5', '-W', '0.02', '-i', 'eth0', '-S', '10.0.0.100', '10.0.0.100'],
    },
  ]);
});

test('iputils arping gets -U for requests, -A for replies and -I for the interface', () => {
  assert.deepEqual(garpRuns('iputils', 'eth0', vip4, 3, 200), [
    { kind: 'request', args: ['-U', '-c', '3', '-i', '0.2', '-I', 'eth0', '10.0.0.100'] },
    { kind: 'reply', args: ['-A', '-c', '3', '-i', '0.2', '-I', 'eth0', '10.0.0.100'] },
  ]);
});

test("Habets' exit code 1 after an unsolicited send is success: the statistics line counts", async () => {
  const exec = fakeExec(() => ({ exitCode: 1, stdout: HABETS_SENT(5) }));
  const result = await announce({
    ...habetsBurst,
    exec,
    vip: vip4,
    count: 5,
    intervalMs: 20,
  });
  assert.deepEqual(result, { frames: 10, description: '5 ARP requests + 5 ARP replies' });
  assert.equal(exec.calls.length, 2);
});

test('an arping that sent nothing is a failure naming the cause', async () => {
  const exec = fakeExec(() => ({
    exitCode: 1,
    stderr: 'arping: libnet_init(LIBNET_LINK, eth0): libnet_check_iface(): eth0 is down',
  }));
  await assert.rejects(
    announce({
      ...habetsBurst,
      exec,
      vip: vip4,
      count: 5,
      intervalMs: 20,
    }),
    {
      code: 'SY_ERR_VIP',
      step: 'announce',
      message:
        'arping (habets) could not send gratuitous ARP requests for 10.0.0.100 on eth0: arping: libnet_init(LIBNET_LINK, eth0): libnet_check_iface(): eth0 is down',
    },
  );
});

test('IPv6 is announced with ndptool unsolicited neighbour advertisements', async () => {
  const exec = fakeExec(() => ({}));
  const result = await announce({
    ...habetsBurst,
    exec,
    vip: vip6,
    count: 3,
    intervalMs: 0,
  });
  assert.deepEqual(result, { frames: 3, description: '3 unsolicited NA' });
  assert.deepEqual(exec.calls[0], ['ndptool', '-t', 'na', '-U', '-i', 'eth0', '-T', 'fd00::100', 'send']);
  assert.equal(exec.calls.length, 3);
});

test('loopback is refused: it has no MAC for gratuitous ARP', () => {
  assert.throws(
    () =>
      assertCanAnnounce(
        { exists: true, isUp: true, mac: '00:00:00:00:00:00', linkType: 'loopback', addresses: [] },
        'lo',
        vip4,
      ),
    {
      code: 'SY_ERR_VIP',
      message:
        'cannot announce 10.0.0.100 on lo: loopback has no MAC address (00:00:00:00:00:00) for gratuitous ARP; put the VIP on an Ethernet interface',
    },
  );
});

test('duplicate probe: an answer from another MAC is a conflict, our own MAC is not', async () => {
  assert.deepEqual(probeArgs('habets', 'eth0', vip4, 200), [
    '-0',
    '-c',
    '1',
    '-w',
    '0.2',
    '-i',
    'eth0',
    '10.0.0.100',
  ]);
  assert.deepEqual(probeArgs('iputils', 'eth0', vip4, 200), [
    '-D',
    '-c',
    '1',
    '-w',
    '0.2',
    '-I',
    'eth0',
    '10.0.0.100',
  ]);
  const answer = '42 bytes from e6:99:67:1a:1c:d1 (10.0.0.100): index=0 time=11.998 usec\n';
  assert.deepEqual(answeringMacs(answer), ['e6:99:67:1a:1c:d1']);
  const base = { command: 'arping', flavour: 'habets' as const, iface: 'eth0', vip: vip4, timeoutMs: 200 };
  const busy = fakeExec(() => ({ exitCode: 0, stdout: answer }));
  assert.deepEqual(await probeDuplicate({ ...base, exec: busy, ownMac: '02:00:00:00:00:01' }), {
    isInUse: true,
    otherMac: 'e6:99:67:1a:1c:d1',
  });
  assert.deepEqual(await probeDuplicate({ ...base, exec: busy, ownMac: 'E6:99:67:1A:1C:D1' }), {
    isInUse: false,
    otherMac: null,
  });
  const free = fakeExec(() => ({ exitCode: 1, stdout: 'Timeout\n' }));
  assert.deepEqual(await probeDuplicate({ ...base, exec: free, ownMac: null }), {
    isInUse: false,
    otherMac: null,
  });
  const iputilsBusy = fakeExec(() => ({
    exitCode: 1,
    stdout: 'Unicast reply from 10.0.0.100 [E6:99:67:1A:1C:D1]  0.6ms\n',
  }));
  assert.deepEqual(await probeDuplicate({ ...base, flavour: 'iputils', exec: iputilsBusy, ownMac: null }), {
    isInUse: true,
    otherMac: 'e6:99:67:1a:1c:d1',
  });
});

test('with a resident raw sender, each frame pair is one send and no arping runs', async () => {
  const exec = fakeExec(() => ({}));
  const sent: string[] = [];
  const rawSender = { send: async (address: string) => (sent.push(address), 2) };
  const result = await announce({
    ...habetsBurst,
    exec,
    vip: vip4,
    count: 3,
    intervalMs: 0,
    rawSender,
  });
  assert.deepEqual(result, { frames: 6, description: '3 ARP requests + 3 ARP replies' });
  assert.deepEqual(sent, ['10.0.0.100', '10.0.0.100', '10.0.0.100']);
  assert.equal(exec.calls.length, 0);
});

test('an aborted raw burst sends nothing more', async () => {
  const controller = new AbortController();
  const sent: string[] = [];
  const rawSender = { send: async (address: string) => (sent.push(address), controller.abort(), 2) };
  const result = await announce({
    ...habetsBurst,
    exec: fakeExec(() => ({})),
    vip: vip4,
    count: 5,
    intervalMs: 1,
    rawSender,
    signal: controller.signal,
  });
  assert.deepEqual([result.frames, sent.length], [2, 1]);
});
