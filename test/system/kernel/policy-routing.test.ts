// The netlink adapter against the real kernel, policy-routing backend: two routing domains
// with the same 192.168.1.0/24 in one fresh namespace, read back with `ip -j`. Root only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gatewayIntent, TENANT_LINKS } from './lab-intent.js';
import { neighbours, routeLine, routes, ruleLine, rules } from './kernel-state.js';
import type { Lab } from './ns.js';
import { adapter, createLab, inNs, ip, ipJson } from './ns.js';

describe('netlink adapter, policy routing, on the real kernel', () => {
  let lab: Lab;
  let gw: string;

  before(async () => {
    lab = await createLab();
    gw = await lab.namespace('pr');
    await ip(gw, 'link', 'add', 'prov0', 'type', 'veth', 'peer', 'name', 'prov1');
    await ip(gw, 'link', 'set', 'prov0', 'up');
    await ip(gw, 'link', 'set', 'prov1', 'up');
    await ip(gw, 'addr', 'add', '10.1.1.40/24', 'dev', 'prov0');
    const { report } = await adapter.reconcile(gw, gatewayIntent());
    assert.deepEqual(report.failed, [], 'the first reconcile applies every step');
    assert.ok(report.ok);
  });
  after(async () => {
    await lab.cleanup();
  });

  it('detects that this kernel has no VRF and leaves no probe behind', async () => {
    const expected = await ip(gw, 'link', 'add', 'vrfcheck', 'type', 'vrf', 'table', '77').then(
      async () => {
        await ip(gw, 'link', 'del', 'vrfcheck');
        return 'vrf';
      },
      () => 'policy-routing',
    );
    assert.deepEqual(await adapter.detect(gw), { backend: expected });
    const names = (await ipJson<{ ifname: string }[]>(gw, 'link', 'show')).map((l) => l.ifname);
    assert.ok(!names.includes('nvgw-probe'));
  });

  it('gives each domain its own table holding the same 192.168.1.0/24', async () => {
    const a = (await routes(gw, '1001')).map(routeLine);
    const b = (await routes(gw, '1002')).map(routeLine);
    assert.ok(a.includes('unicast 192.168.1.0/24 table 1001 dev nvgw-t5001 proto 78 src 192.168.1.1'), a.join('\n'));
    assert.ok(b.includes('unicast 192.168.1.0/24 table 1002 dev nvgw-t6001 proto 78 src 192.168.1.1'), b.join('\n'));
    assert.ok(a.includes('unicast 10.20.0.0/16 table 1001 via 192.168.1.254 dev nvgw-t5001 proto 78'));
    assert.ok(!(await routes(gw, 'main')).some((r) => r.dst.startsWith('192.168.')), 'no tenant prefix in main');
  });

  it('ends each domain table with an unreachable default at metric 4278198272', async () => {
    for (const table of ['1001', '1002']) {
      const lines = (await routes(gw, table)).map(routeLine);
      assert.ok(lines.includes(`unreachable default table ${table} proto 78 metric 4278198272`), lines.join('\n'));
    }
  });

  it('selects each table by input interface and by the domain mark, at nvgw\'s priorities', async () => {
    const ours = (await rules(gw)).filter((r) => r.protocol === '78').map(ruleLine);
    assert.deepEqual(ours, [
      '1000: iif nvgw-t5001 lookup 1001 proto 78',
      '1000: iif nvgw-t5002 lookup 1001 proto 78',
      '1000: iif nvgw-t6001 lookup 1002 proto 78',
      '1000: iif nvgw-t6002 lookup 1002 proto 78',
      '1000: iif nvgw-t6003 lookup 1002 proto 78',
      '1100: fwmark 0x3e9 lookup 1001 proto 78',
      '1100: fwmark 0x3ea lookup 1002 proto 78',
    ]);
  });

  it('keeps the tenant CAs\' local routes in their domain tables, not in table local', async () => {
    const local = (await routes(gw, 'local')).filter((r) => r.type === 'local').map((r) => `${r.dst} ${r.dev ?? ''}`);
    assert.ok(!local.some((l) => l.startsWith('192.168.')), local.join('\n'));
    const b = (await routes(gw, '1002')).filter((r) => r.type === 'local').map(routeLine);
    assert.deepEqual(b.sort(), [
      'local 192.168.1.1 table 1002 dev nvgw-t6001 proto 78 src 192.168.1.1',
      'local 192.168.1.2 table 1002 dev nvgw-t6001 proto 78 src 192.168.1.2',
      'local 192.168.2.1 table 1002 dev nvgw-t6002 proto 78 src 192.168.2.1',
      'local 192.168.3.1 table 1002 dev nvgw-t6003 proto 78 src 192.168.3.1',
    ]);
  });

  it('installs the lookup records as permanent neighbours, marked as nvgw\'s', async () => {
    const ours = (await neighbours(gw)).map((n) => `${n.dst} ${n.dev} ${n.lladdr ?? ''} ${(n.state ?? []).join(',')} ${n.protocol ?? ''}`);
    assert.deepEqual(ours.sort(), [
      '192.168.1.10 nvgw-t5001 00:15:5d:0a:01:10 PERMANENT 78',
      '192.168.1.10 nvgw-t6001 00:15:5d:0b:01:10 PERMANENT 78',
      '192.168.2.20 nvgw-t5002 00:15:5d:0a:02:20 PERMANENT 78',
      '192.168.2.20 nvgw-t6002 00:15:5d:0b:02:20 PERMANENT 78',
    ]);
  });

  it('creates tenant veths and the tap with the gateway MAC and MTU, up, without IPv6, CAs without prefix routes', async () => {
    const links = await ipJson<{ ifname: string; address: string; mtu: number; flags: string[]; linkinfo?: { info_kind: string; info_data?: { type?: string } } }[]>(gw, '-d', 'link', 'show');
    const byName = new Map(links.map((l) => [l.ifname, l]));
    assert.equal(byName.get('nvgw-t5001')?.address, '00:15:5d:00:00:01');
    assert.equal(byName.get('nvgw-t5001')?.linkinfo?.info_kind, 'veth');
    assert.equal(byName.get('nvgw-d5001')?.mtu, 1458);
    assert.equal(byName.get('nvgw-t6003')?.linkinfo?.info_kind, 'tun');
    assert.equal(byName.get('nvgw-t6003')?.linkinfo?.info_data?.type, 'tap');
    assert.equal(byName.get('nvgw-t6003')?.address, '00:15:5d:00:01:03');
    for (const name of TENANT_LINKS) assert.ok(byName.get(name)?.flags.includes('UP'), `${name} is up`);
    const addrs = await ipJson<{ ifname: string; addr_info: { family: string; local: string; noprefixroute?: boolean }[] }[]>(gw, 'addr', 'show');
    for (const a of addrs.filter((x) => x.ifname.startsWith('nvgw'))) {
      assert.ok(a.addr_info.every((i) => i.family === 'inet'), `${a.ifname} has no IPv6 address`);
      assert.ok(a.addr_info.every((i) => i.noprefixroute === true), `${a.ifname}'s CAs have no prefix route`);
    }
  });

  it('sets the sysctls the policy-routing backend relies on', async () => {
    const read = async (key: string): Promise<string> => (await inNs(gw, 'sysctl', '-n', key)).trim();
    assert.equal(await read('net.ipv4.ip_forward'), '1');
    assert.equal(await read('net.ipv4.fwmark_reflect'), '1');
    assert.equal(await read('net.ipv4.tcp_fwmark_accept'), '1');
    assert.equal(await read('net.ipv4.conf.nvgw-t5001.src_valid_mark'), '1');
    assert.equal(await read('net.ipv4.conf.nvgw-t5001.arp_ignore'), '1');
    assert.equal(await read('net.ipv4.conf.nvgw-d5001.forwarding'), '0');
    assert.equal(await read('net.ipv4.conf.nvgw-d5001.arp_ignore'), '8');
  });

  it('adds the PA on the provider link with IFA_PROTO 78 and leaves the operator\'s address alone', async () => {
    const observed = await adapter.observe(gw);
    const prov = observed.addresses.filter((a) => a.ifname === 'prov0').map((a) => `${a.address}/${a.prefixLength} proto ${a.protocol}`);
    assert.deepEqual(prov.sort(), ['10.1.1.40/24 proto 0', '10.1.1.41/24 proto 78']);
    assert.ok((await routes(gw, 'main')).map(routeLine).includes('unicast 10.2.0.0/16 table main via 10.1.1.1 dev prov0 proto 78'));
  });

  it('plans nothing on a second run', async () => {
    const plan = await adapter.plan(gw, gatewayIntent());
    assert.deepEqual(plan.steps.map((s) => s.id), []);
    assert.deepEqual(plan.conflicts, []);
  });

  it('puts back a route deleted by hand, and only that route', async () => {
    await ip(gw, 'route', 'del', '192.168.1.0/24', 'table', '1002');
    const { plan, report } = await adapter.reconcile(gw, gatewayIntent());
    assert.deepEqual(plan.steps.map((s) => s.id), ['route 192.168.1.0/24 table 1002 metric 0']);
    assert.ok(report.ok);
    assert.ok((await routes(gw, '1002')).map(routeLine).includes('unicast 192.168.1.0/24 table 1002 dev nvgw-t6001 proto 78 src 192.168.1.1'));
  });

  it('brings back a tenant link someone set down, with the routes and neighbours the kernel flushed', async () => {
    await ip(gw, 'link', 'set', 'nvgw-t5002', 'down');
    assert.ok(!(await neighbours(gw)).some((n) => n.dev === 'nvgw-t5002'), 'the kernel flushed its permanent neighbours');
    const { report } = await adapter.reconcile(gw, gatewayIntent());
    assert.deepEqual(report.failed, []);
    assert.ok((await neighbours(gw)).some((n) => n.dev === 'nvgw-t5002' && n.dst === '192.168.2.20'));
    assert.ok((await routes(gw, '1001')).map(routeLine).includes('unicast 192.168.2.0/24 table 1001 dev nvgw-t5002 proto 78 src 192.168.2.1'));
    assert.ok(!(await routes(gw, 'local')).some((r) => r.type === 'local' && r.dst === '192.168.2.1'), 'the local route re-added on up was evicted again');
    assert.deepEqual((await adapter.plan(gw, gatewayIntent())).steps, []);
  });

  it('puts back a rule deleted by hand and resets a sysctl someone changed', async () => {
    await ip(gw, 'rule', 'del', 'pref', '1100', 'fwmark', '1002', 'lookup', '1002');
    await inNs(gw, 'sysctl', '-qw', 'net.ipv4.conf.nvgw-t6001.arp_ignore=0');
    const { plan, report } = await adapter.reconcile(gw, gatewayIntent());
    assert.deepEqual(plan.steps.map((s) => s.id).sort(), ['rule 1100 fwmark 0x3ea/0xffffffff lookup 1002', 'sysctl net/ipv4/conf/nvgw-t6001/arp_ignore']);
    assert.ok(report.ok);
  });

  it('reports a kernel rejection under the object\'s name and applies the rest', async () => {
    const intent = gatewayIntent();
    // The next hop is not on any link of the table: the kernel answers ENETUNREACH.
    intent.domains[0]!.routes.push({ prefix: '10.30.0.0/16', type: 'unicast', nextHop: '172.31.0.1', metric: 0 });
    intent.domains[1]!.routes.push({ prefix: '10.31.0.0/16', type: 'unicast', nextHop: '192.168.2.254', metric: 0 });
    const { report } = await adapter.reconcile(gw, intent);
    assert.deepEqual(report.failed.map((f) => [f.id, f.error?.code, f.attempts]), [['route 10.30.0.0/16 table 1001 metric 0', 'NETLINK_REJECTED', 1]]);
    assert.match(report.failed[0]?.error?.message ?? '', /^route 10\.30\.0\.0\/16 table 1001 metric 0: kernel said E/);
    assert.ok((await routes(gw, '1002')).some((r) => r.dst === '10.31.0.0/16'));
    await adapter.reconcile(gw, gatewayIntent());
  });
});
