import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  configureAddress,
  deconfigureAddress,
  findVip,
  parseInterfaceJson,
  queryInterface,
} from '../../../src/targets/vip/address.js';
import { parseVipAddress, type VipAddress } from '../../../src/targets/vip/config.js';
import { vip4, vip6 } from './views.js';
import type { Exec, ExecResult } from '../../../src/targets/vip/exec.js';

const IP_JSON = JSON.stringify([
  {
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    link_type: 'ether',
    address: 'e6:99:67:1a:1c:d1',
    addr_info: [
      { family: 'inet', local: '10.0.0.1', prefixlen: 24, label: 'eth0' },
      { family: 'inet', local: '10.0.0.10', prefixlen: 24, secondary: true, label: 'eth0:vip' },
      { family: 'inet', local: '110.0.0.100', prefixlen: 24, label: 'eth0' },
      { family: 'inet6', local: 'fd00:0::100', prefixlen: 64, dadfailed: true },
    ],
  },
]);

function fakeExec(results: Partial<ExecResult>[]): Exec & { calls: string[][] } {
  const calls: string[][] = [];
  const run: Exec = async (file, args) => {
    calls.push([file, ...args]);
    const r = results.shift() ?? {};
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...r };
  };
  return Object.assign(run, { calls });
}

test('parses ip -j addr: link state, MAC and every address', () => {
  const state = parseInterfaceJson(IP_JSON);
  assert.equal(state.isUp, true);
  assert.equal(state.mac, 'e6:99:67:1a:1c:d1');
  assert.equal(state.addresses.length, 4);
  assert.deepEqual(state.addresses[3], {
    family: 6,
    address: 'fd00::100',
    prefixLength: 64,
    label: null,
    isTentative: false,
    isDadFailed: true,
  });
});

test('matches the exact address and prefix, never a substring', () => {
  const state = parseInterfaceJson(IP_JSON);
  assert.equal(findVip(state, vip4), null, '10.0.0.10 and 110.0.0.100 are not 10.0.0.100');
  assert.equal(
    findVip(state, parseVipAddress('10.0.0.10/32') as VipAddress),
    null,
    'same address, other prefix',
  );
  assert.equal(findVip(state, parseVipAddress('10.0.0.10/24') as VipAddress)?.label, 'eth0:vip');
  assert.equal(findVip(state, vip6)?.isDadFailed, true);
});

test('a missing interface is a state, not an error', async () => {
  const exec = fakeExec([{ exitCode: 1, stderr: 'Device "eth9" does not exist.' }]);
  const state = await queryInterface({ exec, ip: 'ip', iface: 'eth9', timeoutMs: 1000 });
  assert.equal(state.exists, false);
  assert.deepEqual(exec.calls, [['ip', '-j', 'addr', 'show', 'dev', 'eth9']]);
});

test('adds IPv4 with its label and IPv6 with nodad', async () => {
  const exec = fakeExec([{}, {}]);
  const options = { exec, ip: 'ip', iface: 'eth0', timeoutMs: 1000 };
  assert.equal(await configureAddress(options, vip4, 'eth0:vip'), true);
  assert.equal(await configureAddress(options, vip6, 'eth0:vip'), true);
  assert.deepEqual(exec.calls, [
    ['ip', 'addr', 'add', '10.0.0.100/24', 'dev', 'eth0', 'label', 'eth0:vip'],
    ['ip', 'addr', 'add', 'fd00::100/64', 'dev', 'eth0', 'nodad'],
  ]);
});

test('"already assigned" and "not found" are success', async () => {
  const exec = fakeExec([
    { exitCode: 2, stderr: 'Error: ipv4: Address already assigned.' },
    { exitCode: 2, stderr: 'RTNETLINK answers: File exists' },
    { exitCode: 2, stderr: 'Error: ipv4: Address not found.' },
    { exitCode: 2, stderr: 'RTNETLINK answers: Cannot assign requested address' },
  ]);
  const options = { exec, ip: 'ip', iface: 'eth0', timeoutMs: 1000 };
  assert.equal(await configureAddress(options, vip4, undefined), false);
  assert.equal(await configureAddress(options, vip4, undefined), false);
  assert.equal(await deconfigureAddress(options, vip4), false);
  assert.equal(await deconfigureAddress(options, vip4), false);
});

test('a refused add names the missing capability', async () => {
  const exec = fakeExec([{ exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted' }]);
  await assert.rejects(
    configureAddress({ exec, ip: 'ip', iface: 'eth0', timeoutMs: 1000 }, vip4, undefined),
    {
      code: 'SY_ERR_VIP',
      step: 'add',
      message:
        'cannot add 10.0.0.100/24 to eth0: RTNETLINK answers: Operation not permitted (needs CAP_NET_ADMIN)',
    },
  );
});
