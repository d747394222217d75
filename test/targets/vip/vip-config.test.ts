import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseRouterConfig } from '../../../src/config/router.js';
import { parseVipAddress, vipConfigSchema, type VipConfig } from '../../../src/targets/vip/config.js';
import { vipScope } from '../../../src/targets/vip/index.js';

for (const [name, input, parsed] of [
  [
    'parses an IPv4 VIP with its prefix',
    '10.0.0.100/24',
    { family: 4, address: '10.0.0.100', prefixLength: 24, cidr: '10.0.0.100/24' },
  ],
  [
    'canonicalises an IPv6 VIP so it matches what ip prints',
    'FD00:0:0::0100/64',
    { family: 6, address: 'fd00::100', prefixLength: 64, cidr: 'fd00::100/64' },
  ],
] as const) {
  test(name, () => {
    assert.deepEqual(parseVipAddress(input), parsed);
  });
}

test('names what is wrong with an address', () => {
  assert.equal(
    parseVipAddress('10.0.0.100'),
    'expected ADDRESS/PREFIX such as 10.0.0.100/24 or fd00::100/64, got "10.0.0.100"',
  );
  assert.equal(parseVipAddress('10.0.0.300/24'), '"10.0.0.300" is not an IPv4 or IPv6 address');
  assert.equal(parseVipAddress('10.0.0.1/33'), 'prefix length of 10.0.0.1/33 must be 1–32 for IPv4, got 33');
});

test('fills defaults: member = hostname, ttl policy, 5 + 5 announcements 5 s apart', () => {
  const config = vipConfigSchema.parse({ address: '10.0.0.100/24', interface: 'eth0' });
  assert.equal(config.member, hostname());
  assert.equal(config.on_dcs_loss, 'ttl');
  assert.equal(config.require_writable, false);
  assert.deepEqual(config.announce, {
    count: 5,
    interval_ms: 20,
    repeat_count: 5,
    repeat_delay_ms: 5000,
    sender: 'auto',
    python_command: 'python3',
  });
  assert.deepEqual(config.arping, { flavour: 'auto', command: 'arping' });
  assert.equal(config.duplicate_probe.enabled, false);
});

test('rejects unknown keys and camelCase spellings', () => {
  const result = vipConfigSchema.safeParse({
    address: '10.0.0.100/24',
    interface: 'eth0',
    requireWritable: true,
  });
  assert.equal(result.success, false);
  assert.match(JSON.stringify(result.error?.issues), /unrecognized_keys/);
});

test('rejects an interface name with a label colon and an over-long label', () => {
  assert.equal(vipConfigSchema.safeParse({ address: '10.0.0.100/24', interface: 'eth0:1' }).success, false);
  assert.equal(
    vipConfigSchema.safeParse({ address: '10.0.0.100/24', interface: 'eth0', label: 'eth0:much-too-long' })
      .success,
    false,
  );
});

test('takes the cluster from the router when it follows exactly one scope', () => {
  const config = vipConfigSchema.parse({ address: '10.0.0.100/24', interface: 'eth0' });
  assert.equal(vipScope(config, ['app']), 'app');
  assert.equal(vipScope({ ...config, cluster: 'other' }, ['app', 'b']), 'other');
  assert.throws(() => vipScope(config, ['*']), {
    code: 'SY_ERR_CONFIG_INVALID',
    message: 'targets.vip.cluster is required when the router follows more than one cluster',
  });
});

test('the systemd example router.yml is a valid router config with a vip target', () => {
  const path = fileURLToPath(new URL('../../../examples/vip-systemd/router.yml', import.meta.url));
  const config = parseRouterConfig(readFileSync(path, 'utf8'), path);
  const vip = (config.targets as Record<string, unknown>)['vip'] as VipConfig; // parsed by the router's schema
  assert.equal(vip.address.cidr, '10.0.0.100/24');
  assert.equal(vipScope(vip, config.clusters), 'app');
  const unit = readFileSync(path.replace('router.yml', 'switchyard-vip.service'), 'utf8');
  assert.match(unit, /^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW$/m);
  assert.match(
    unit,
    new RegExp(`^ExecStopPost=-/usr/sbin/ip addr del ${vip.address.cidr} dev ${vip.interface}$`, 'm'),
  );
});
