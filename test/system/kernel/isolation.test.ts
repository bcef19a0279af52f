// End-to-end isolation on the real kernel, policy-routing backend: VMs in their own
// namespaces, joined by veths through a bridge to the data-path end of each tenant veth (a
// stand-in for the NVGRE data path). Domains A and B reuse 192.168.1.0/24, 192.168.2.0/24,
// the gateway CAs and the VM addresses. Traffic of A must never reach B.
//
// The mangle MARK rules installed here stand in for the firewall's (the NAT issue owns
// iptables); they are exactly the contract documented in src/kernel/plan.ts. Root only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gatewayIntent, VM } from './lab-intent.js';
import type { Lab } from './ns.js';
import { adapter, attachVm, createLab, inNs, ip, ipJson, succeeds } from './ns.js';

const ping = (ns: string, target: string): Promise<boolean> => succeeds(ns, 'ping', '-c', '1', '-W', '1', '-n', '-q', target);

/** Echo requests this namespace's stack received (per-namespace SNMP counter). */
async function echoRequestsSeen(ns: string): Promise<number> {
  const snmp = (await inNs(ns, 'cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Icmp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  const at = names?.indexOf('InEchos') ?? -1;
  return Number(values?.[at]);
}

async function markTenants(gw: string, action: '-A' | '-D'): Promise<void> {
  const marks: [string, number][] = [
    ['nvgw-t5001', 1001],
    ['nvgw-t5002', 1001],
    ['nvgw-t6001', 1002],
    ['nvgw-t6002', 1002],
    ['nvgw-t6003', 1002],
  ];
  for (const [ifname, mark] of marks) {
    await inNs(gw, 'iptables', '-w', '-t', 'mangle', action, 'PREROUTING', '-i', ifname, '-j', 'MARK', '--set-xmark', `${mark}/0xffffffff`);
  }
}

describe('routing-domain isolation through the real kernel', () => {
  let lab: Lab;
  let gw: string;
  let fabric: string;
  const vm: Record<'a1' | 'a2' | 'b1' | 'b2', string> = { a1: '', a2: '', b1: '', b2: '' };

  before(async () => {
    lab = await createLab();
    gw = await lab.namespace('iso-gw');
    for (const name of ['a1', 'a2', 'b1', 'b2'] as const) vm[name] = await lab.namespace(`iso-${name}`);
    // The provider network: prov0 in the gateway, eth0 in `fabric`, which answers for
    // 10.1.1.1, 10.1.1.50 and 10.2.0.1 and so would count any echo request leaking out.
    fabric = await lab.namespace('iso-fab');
    await ip(gw, 'link', 'add', 'prov0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', fabric);
    await ip(gw, 'link', 'set', 'prov0', 'up');
    await ip(gw, 'addr', 'add', '10.1.1.40/24', 'dev', 'prov0');
    await ip(fabric, 'link', 'set', 'eth0', 'up');
    for (const a of ['10.1.1.1/24', '10.1.1.50/24', '10.2.0.1/32']) await ip(fabric, 'addr', 'add', a, 'dev', 'eth0');
    const { report } = await adapter.reconcile(gw, gatewayIntent());
    assert.ok(report.ok, JSON.stringify(report.failed));
    await attachVm(gw, vm.a1, { bridge: 'bra1', port: 'nvgw-d5001', ...VM.a1, address: `${VM.a1.address}/24` });
    await attachVm(gw, vm.a2, { bridge: 'bra2', port: 'nvgw-d5002', ...VM.a2, address: `${VM.a2.address}/24` });
    await attachVm(gw, vm.b1, { bridge: 'brb1', port: 'nvgw-d6001', ...VM.b1, address: `${VM.b1.address}/24` });
    await attachVm(gw, vm.b2, { bridge: 'brb2', port: 'nvgw-d6002', ...VM.b2, address: `${VM.b2.address}/24` });
    await markTenants(gw, '-A');
  });
  after(async () => {
    await lab.cleanup();
  });

  it('the data path attaching to the data-path ends leaves nothing for nvgw to change', async () => {
    const plan = await adapter.plan(gw, gatewayIntent());
    assert.deepEqual(plan.steps.map((s) => s.id), []);
  });

  it('a VM of domain A reaches its gateway CA, answered from domain A\'s interface', async () => {
    assert.ok(await ping(vm.a1, '192.168.1.1'));
    const neigh = await ipJson<{ dst: string; lladdr?: string }[]>(vm.a1, 'neigh', 'show', '192.168.1.1');
    assert.equal(neigh[0]?.lladdr, '00:15:5d:00:00:01', 'the MAC of nvgw-t5001, not of domain B\'s nvgw-t6001');
    assert.ok(await ping(vm.b1, '192.168.1.1'));
    const neighB = await ipJson<{ dst: string; lladdr?: string }[]>(vm.b1, 'neigh', 'show', '192.168.1.1');
    assert.equal(neighB[0]?.lladdr, '00:15:5d:00:01:01');
  });

  it('routes between the VSIDs of domain A and never into domain B\'s identical 192.168.2.20', async () => {
    const a2Before = await echoRequestsSeen(vm.a2);
    const b2Before = await echoRequestsSeen(vm.b2);
    for (let i = 0; i < 3; i++) assert.ok(await ping(vm.a1, VM.a2.address));
    assert.equal((await echoRequestsSeen(vm.a2)) - a2Before, 3);
    assert.equal((await echoRequestsSeen(vm.b2)) - b2Before, 0);
    const b2Mid = await echoRequestsSeen(vm.b2);
    assert.ok(await ping(vm.b1, VM.b2.address));
    assert.equal((await echoRequestsSeen(vm.b2)) - b2Mid, 1, 'and domain B routes to its own');
  });

  it('a VM of domain A cannot reach a gateway address that only domain B has', async () => {
    // 192.168.3.1 is a CA of B's tap only; 192.168.1.2 a second CA of B's VSID 6001.
    assert.equal(await ping(vm.a1, '192.168.3.1'), false, 'routed: table 1001 ends unreachable; table local no longer holds B\'s CA');
    assert.equal(await ping(vm.a1, '192.168.1.2'), false, 'on-link: the ARP for it goes unanswered on A\'s interface');
    assert.ok(await ping(vm.b1, '192.168.3.1'));
    assert.ok(await ping(vm.b1, '192.168.1.2'));
  });

  it('a miss in a domain table ends there: nothing of a tenant leaks to the provider network', async () => {
    const before = await echoRequestsSeen(fabric);
    assert.ok(await succeeds(gw, 'ping', '-c', '1', '-W', '1', '-q', '10.2.0.1'), 'the provider route works for the gateway itself');
    const afterOwn = await echoRequestsSeen(fabric);
    assert.equal(afterOwn - before, 1);
    for (const target of ['10.1.1.50', '10.2.0.1', '8.8.8.8']) {
      assert.equal(await ping(vm.a1, target), false, `${target} from domain A`);
      assert.equal(await ping(vm.b2, target), false, `${target} from domain B`);
    }
    assert.equal((await echoRequestsSeen(fabric)) - afterOwn, 0);
  });

  it('leaves the gateway\'s own host addresses reachable through table local, as a VRF does under the default rule order', async () => {
    // Rule 0 (lookup local) precedes every rule and is not nvgw's to move; the PA is a
    // host address. Dropping it is the firewall's job (see src/kernel/plan.ts).
    assert.ok(await ping(vm.a1, '10.1.1.40'));
  });

  it('forwarding needs no mark, while the gateway\'s own replies travel by the mark the firewall sets', async () => {
    await markTenants(gw, '-D');
    try {
      assert.ok(await ping(vm.a1, VM.a2.address), 'forwarded by the iif rule alone');
      assert.equal(await ping(vm.a1, '192.168.1.1'), false, 'an unmarked echo reply is looked up in main and lost');
    } finally {
      await markTenants(gw, '-A');
    }
    assert.ok(await ping(vm.a1, '192.168.1.1'));
  });
});
