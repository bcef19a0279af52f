// planKernel with the policy-routing backend: what it creates for a domain, what it leaves
// alone, and the order it does things in. Pure: intents and snapshots in, plans out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelObserved, KernelStep } from '../../../src/kernel/kernel-port.js';
import { planKernel, UNREACHABLE_METRIC } from '../../../src/kernel/plan.js';
import { bareKernel, domain, ids, stepsOf, subnet, twoDomains } from './fixtures.js';

function observedWith(extra: Partial<KernelObserved>): KernelObserved {
  const base = bareKernel();
  return {
    links: [...base.links, ...(extra.links ?? [])],
    addresses: [...base.addresses, ...(extra.addresses ?? [])],
    neighbours: [...base.neighbours, ...(extra.neighbours ?? [])],
    routes: [...base.routes, ...(extra.routes ?? [])],
    rules: [...base.rules, ...(extra.rules ?? [])],
    sysctls: { ...base.sysctls, ...(extra.sysctls ?? {}) },
  };
}

/** Index of the first step of a kind/op, to compare phases. */
const firstIndex = (steps: KernelStep[], pred: (s: KernelStep) => boolean): number => steps.findIndex(pred);
const lastIndex = (steps: KernelStep[], pred: (s: KernelStep) => boolean): number => steps.length - 1 - [...steps].reverse().findIndex(pred);

describe('planKernel (policy-routing): a new domain', () => {
  const plan = planKernel(twoDomains(), bareKernel());

  it('creates each tenant veth pair once, named after its VSID', () => {
    const creates = stepsOf(plan, 'link', 'create');
    assert.deepEqual(
      creates.map((s) => [s.link.name, s.link.kind, s.link.peer]),
      [
        ['nvgw-t5001', 'veth', 'nvgw-d5001'],
        ['nvgw-t6001', 'veth', 'nvgw-d6001'],
      ],
    );
    assert.equal(plan.conflicts.length, 0);
  });

  it('gives the two domains with the same 192.168.1.0/24 each its own table', () => {
    const onLink = stepsOf(plan, 'route', 'replace').filter((s) => s.route.prefix === '192.168.1.0/24');
    assert.deepEqual(
      onLink.map((s) => [s.route.table, s.route.ifname, s.route.source, s.route.protocol]),
      [
        [1001, 'nvgw-t5001', '192.168.1.1', 78],
        [1002, 'nvgw-t6001', '192.168.1.1', 78],
      ],
    );
  });

  it('selects each table by input interface and by the whole 32-bit mark', () => {
    assert.deepEqual(
      stepsOf(plan, 'rule', 'create').map((s) => s.rule),
      [
        { priority: 1000, iif: 'nvgw-t5001', table: 1001 },
        { priority: 1100, fwmark: 1001, fwmask: 0xffffffff, table: 1001 },
        { priority: 1000, iif: 'nvgw-t6001', table: 1002 },
        { priority: 1100, fwmark: 1002, fwmask: 0xffffffff, table: 1002 },
      ],
    );
  });

  it('ends every domain table with an unreachable default, so a miss never reaches main', () => {
    const unreachable = stepsOf(plan, 'route', 'replace').filter((s) => s.route.type === 'unreachable');
    assert.deepEqual(
      unreachable.map((s) => [s.route.table, s.route.prefix, s.route.metric]),
      [
        [1001, '0.0.0.0/0', UNREACHABLE_METRIC],
        [1002, '0.0.0.0/0', UNREACHABLE_METRIC],
      ],
    );
  });

  it('adds the gateway CA without a prefix route, so nothing of a tenant lands in main', () => {
    const addresses = stepsOf(plan, 'address', 'create').map((s) => s.address);
    assert.deepEqual(addresses, [
      { ifname: 'nvgw-t5001', address: '192.168.1.1', prefixLength: 24, noPrefixRoute: true },
      { ifname: 'nvgw-t6001', address: '192.168.1.1', prefixLength: 24, noPrefixRoute: true },
    ]);
    assert.ok(stepsOf(plan, 'route').every((s) => s.route.table !== 254));
  });

  it('moves each CA local route into the domain table, local before the on-link route that uses it as source', () => {
    const routes = stepsOf(plan, 'route', 'replace').filter((s) => s.route.table === 1001);
    assert.deepEqual(
      routes.map((s) => `${s.route.type} ${s.route.prefix}`),
      ['local 192.168.1.1/32', 'unicast 192.168.1.0/24', 'unreachable 0.0.0.0/0'],
    );
    const evictions = stepsOf(plan, 'route', 'delete');
    assert.deepEqual(
      evictions.map((s) => [s.route.table, s.route.prefix, s.route.type, s.route.protocol, s.route.ifname]),
      [
        [255, '192.168.1.1/32', 'local', 2, 'nvgw-t5001'],
        [255, '192.168.1.1/32', 'local', 2, 'nvgw-t6001'],
      ],
    );
  });

  it('installs permanent neighbours from the lookup records on the tenant link', () => {
    assert.deepEqual(
      stepsOf(plan, 'neighbour', 'replace').map((s) => s.neighbour),
      [
        { ifname: 'nvgw-t5001', address: '192.168.1.10', mac: '00155d0a8901' },
        { ifname: 'nvgw-t6001', address: '192.168.1.10', mac: '00155d0a7101' },
      ],
    );
  });

  it('orders links, link settings, addresses, neighbours, routes, then rules', () => {
    const s = plan.steps;
    const at = (kind: string, op?: string): [number, number] => [
      firstIndex(s, (x) => x.kind === kind && (op === undefined || x.op === op)),
      lastIndex(s, (x) => x.kind === kind && (op === undefined || x.op === op)),
    ];
    const order = [at('link', 'create'), at('link', 'update'), at('address'), at('neighbour'), at('route', 'replace'), at('rule')];
    for (let i = 1; i < order.length; i++) assert.ok((order[i - 1]?.[1] ?? -1) < (order[i]?.[0] ?? -1), `phase ${i} starts after phase ${i - 1} ends`);
  });

  it('creates links down, sets the per-link sysctls, then brings them up with MAC and MTU', () => {
    const update = stepsOf(plan, 'link', 'update').find((s) => s.link.name === 'nvgw-t5001');
    assert.deepEqual(update?.changes, { mac: '00155d001389', mtu: 1458, up: true });
    const sysctlAt = ids(plan).indexOf('sysctl net/ipv6/conf/nvgw-t5001/disable_ipv6');
    assert.ok(sysctlAt > ids(plan).indexOf('link nvgw-t5001') && sysctlAt < plan.steps.indexOf(update as KernelStep));
    const datapathEnd = stepsOf(plan, 'link', 'update').find((s) => s.link.name === 'nvgw-d5001');
    assert.deepEqual(datapathEnd?.changes, { mtu: 1458, up: true }, 'the data path owns its MAC and master');
  });

  it('sets the namespace sysctls the backend needs only where they differ', () => {
    const off = planKernel(twoDomains(), observedWith({ sysctls: { 'net/ipv4/fwmark_reflect': '0' } }));
    assert.deepEqual(
      stepsOf(off, 'sysctl').filter((s) => !s.key.includes('/conf/')).map((s) => [s.key, s.value]),
      [['net/ipv4/fwmark_reflect', '1']],
    );
    const tenantKeys = stepsOf(plan, 'sysctl').filter((s) => s.key.includes('/nvgw-t5001/')).map((s) => `${s.key}=${s.value}`);
    assert.deepEqual(tenantKeys, [
      'net/ipv4/conf/nvgw-t5001/arp_ignore=1',
      'net/ipv4/conf/nvgw-t5001/arp_announce=2',
      'net/ipv4/conf/nvgw-t5001/src_valid_mark=1',
      'net/ipv6/conf/nvgw-t5001/disable_ipv6=1',
    ]);
    const datapathKeys = stepsOf(plan, 'sysctl').filter((s) => s.key.includes('/nvgw-d5001/')).map((s) => `${s.key}=${s.value}`);
    assert.deepEqual(datapathKeys, [
      'net/ipv4/conf/nvgw-d5001/forwarding=0',
      'net/ipv4/conf/nvgw-d5001/arp_ignore=8',
      'net/ipv6/conf/nvgw-d5001/disable_ipv6=1',
    ]);
  });

  it('uses the tap itself when the data path opens a tap', () => {
    const intent = twoDomains();
    intent.domains[0]!.subnets[0] = subnet(5001, { kind: 'tap', datapathIfname: 'nvgw-t5001' });
    const tapPlan = planKernel(intent, bareKernel());
    const create = stepsOf(tapPlan, 'link', 'create').find((s) => s.link.name === 'nvgw-t5001');
    assert.equal(create?.link.kind, 'tap');
    assert.ok(!ids(tapPlan).some((id) => id.includes('nvgw-d5001')));
  });
});

describe('planKernel: ownership', () => {
  it('deletes an owned link, route, rule and permanent neighbour that are no longer wanted, rules first and links last', () => {
    const observed = observedWith({
      links: [
        { name: 'nvgw-t7001', kind: 'veth', peer: 'nvgw-d7001', mac: '00155d001b59', mtu: 1458, up: true, master: null },
        { name: 'nvgw-d7001', kind: 'veth', peer: 'nvgw-t7001', mac: '02aa00000001', mtu: 1458, up: true, master: null },
      ],
      addresses: [{ ifname: 'nvgw-t7001', address: '172.16.0.1', prefixLength: 24, protocol: 78, noPrefixRoute: true }],
      neighbours: [{ ifname: 'nvgw-t7001', address: '172.16.0.9', mac: '00155d000009', permanent: true }],
      routes: [{ table: 1007, prefix: '0.0.0.0/0', metric: UNREACHABLE_METRIC, type: 'unreachable', protocol: 78, scope: 'universe' }],
      rules: [{ priority: 1000, protocol: 78, table: 1007, action: 'lookup', iif: 'nvgw-t7001', otherSelectors: false }],
    });
    const plan = planKernel({ backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } }, observed);
    assert.deepEqual(ids(plan), [
      'rule 1000 iif nvgw-t7001 lookup 1007',
      'route unreachable 0.0.0.0/0 table 1007 metric 4278198272',
      'link nvgw-t7001',
    ]);
    assert.ok(plan.steps.every((s) => s.op === 'delete'));
  });

  it('never deletes a link, route, rule, address or neighbour nvgw does not own', () => {
    const observed = observedWith({
      links: [{ name: 'veth-ops', kind: 'veth', peer: null, mac: '020000000002', mtu: 1500, up: true, master: null }],
      addresses: [{ ifname: 'eth0', address: '10.9.9.9', prefixLength: 32, protocol: 0, noPrefixRoute: false }],
      neighbours: [{ ifname: 'eth0', address: '10.1.1.1', mac: '525400000099', permanent: true }],
      routes: [
        { table: 1001, prefix: '10.50.0.0/16', metric: 0, type: 'unicast', protocol: 4, scope: 'universe', nextHop: '10.1.1.1', ifname: 'eth0' },
        { table: 254, prefix: '0.0.0.0/0', metric: 0, type: 'unicast', protocol: 3, scope: 'universe', nextHop: '10.1.1.1', ifname: 'eth0' },
      ],
      rules: [
        { priority: 1500, protocol: 0, table: 1001, action: 'lookup', fwmark: 7, fwmask: 0xffffffff, otherSelectors: false },
        { priority: 500, protocol: 78, table: 1001, action: 'lookup', otherSelectors: false },
      ],
    });
    const plan = planKernel({ backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } }, observed);
    assert.deepEqual(plan.steps, []);
  });

  it('adds the PAs it is given with IFA_PROTO ownership and removes only those it added', () => {
    const intent = { backend: 'policy-routing' as const, domains: [], provider: { addresses: [{ ifname: 'eth0', address: '10.1.1.41', prefixLength: 24 }], routes: [] } };
    const add = planKernel(intent, bareKernel());
    assert.deepEqual(stepsOf(add, 'address').map((s) => [s.op, s.address]), [
      ['create', { ifname: 'eth0', address: '10.1.1.41', prefixLength: 24, noPrefixRoute: false }],
    ]);
    const added = observedWith({ addresses: [{ ifname: 'eth0', address: '10.1.1.41', prefixLength: 24, protocol: 78, noPrefixRoute: false }] });
    const remove = planKernel({ ...intent, provider: { addresses: [], routes: [] } }, added);
    assert.deepEqual(ids(remove), ['address 10.1.1.41/24 on eth0']);
  });

  it('leaves a wanted PA that someone else configured as it is, and never removes it', () => {
    const intent = { backend: 'policy-routing' as const, domains: [], provider: { addresses: [{ ifname: 'eth0', address: '10.1.1.40', prefixLength: 24 }], routes: [] } };
    const plan = planKernel(intent, bareKernel());
    assert.deepEqual(plan.steps, []);
    assert.match(plan.notes[0] ?? '', /10\.1\.1\.40\/24 on eth0 is present but was not added by nvgw/);
    assert.deepEqual(planKernel({ ...intent, provider: { addresses: [], routes: [] } }, bareKernel()).steps, []);
  });

  it('reports a foreign route that holds a wanted table, prefix and metric, and leaves it', () => {
    const intent = twoDomains();
    intent.provider.routes.push({ prefix: '10.1.1.0/24', type: 'unicast', ifname: 'eth0', metric: 0 });
    const plan = planKernel(intent, bareKernel());
    assert.ok(!ids(plan).includes('route 10.1.1.0/24 table 254 metric 0'));
    assert.match(plan.conflicts.map((c) => c.reason).join('\n'), /table 254 already holds a route to 10\.1\.1\.0\/24 with metric 0 that nvgw does not own \(protocol 2\)/);
  });

  it('refuses to delete an owned veth whose peer is not nvgw\'s, since the peer would go with it', () => {
    const observed = observedWith({
      links: [
        { name: 'nvgw-old', kind: 'veth', peer: 'vm-eth', mac: '020000000003', mtu: 1500, up: true, master: null },
        { name: 'vm-eth', kind: 'veth', peer: 'nvgw-old', mac: '020000000004', mtu: 1500, up: true, master: null },
      ],
    });
    const plan = planKernel({ backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } }, observed);
    assert.deepEqual(plan.steps, []);
    assert.match(plan.conflicts[0]?.reason ?? '', /veth peer vm-eth is not nvgw's/);
  });

  it('ignores the kernel\'s dynamic neighbour entries on nvgw links', () => {
    const base = planKernel(twoDomains(), bareKernel());
    const withDynamic = { ...bareKernel(), neighbours: [{ ifname: 'nvgw-t5001', address: '192.168.1.77', mac: '00155d000077', permanent: false }] };
    assert.deepEqual(ids(planKernel(twoDomains(), withDynamic)), ids(base));
  });

  it('leaves an owned-looking rule that matches on selectors nvgw never sets, and says so', () => {
    const observed = observedWith({ rules: [{ priority: 1000, protocol: 78, table: 1001, action: 'lookup', iif: 'nvgw-t5001', otherSelectors: true }] });
    const plan = planKernel({ backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } }, observed);
    assert.deepEqual(plan.steps, []);
    assert.match(plan.conflicts[0]?.reason ?? '', /selectors nvgw never sets/);
  });
});

describe('planKernel: changes to what exists', () => {
  /** The kernel exactly as reconciled from twoDomains(), built by hand so this stays a pure test. */
  function reconciled(): KernelObserved {
    const o = observedWith({});
    for (const [vsid, table, vmMac] of [
      [5001, 1001, '00155d0a8901'],
      [6001, 1002, '00155d0a7101'],
    ] as const) {
      const t = `nvgw-t${vsid}`;
      const d = `nvgw-d${vsid}`;
      o.links.push({ name: t, kind: 'veth', peer: d, mac: `00155d${vsid.toString(16).padStart(6, '0')}`, mtu: 1458, up: true, master: null });
      o.links.push({ name: d, kind: 'veth', peer: t, mac: '02aa00000001', mtu: 1458, up: true, master: null });
      o.addresses.push({ ifname: t, address: '192.168.1.1', prefixLength: 24, protocol: 78, noPrefixRoute: true });
      o.neighbours.push({ ifname: t, address: '192.168.1.10', mac: vmMac, permanent: true });
      o.routes.push(
        { table, prefix: '192.168.1.1/32', metric: 0, type: 'local', protocol: 78, scope: 'host', ifname: t, source: '192.168.1.1' },
        { table, prefix: '192.168.1.0/24', metric: 0, type: 'unicast', protocol: 78, scope: 'link', ifname: t, source: '192.168.1.1' },
        { table, prefix: '0.0.0.0/0', metric: UNREACHABLE_METRIC, type: 'unreachable', protocol: 78, scope: 'universe' },
        { table: 255, prefix: '192.168.1.255/32', metric: 0, type: 'broadcast', protocol: 2, scope: 'link', ifname: t, source: '192.168.1.1' },
      );
      o.rules.push(
        { priority: 1000, protocol: 78, table, action: 'lookup', iif: t, otherSelectors: false },
        { priority: 1100, protocol: 78, table, action: 'lookup', fwmark: table, fwmask: 0xffffffff, otherSelectors: false },
      );
      Object.assign(o.sysctls, {
        [`net/ipv4/conf/${t}/arp_ignore`]: '1',
        [`net/ipv4/conf/${t}/arp_announce`]: '2',
        [`net/ipv4/conf/${t}/src_valid_mark`]: '1',
        [`net/ipv4/conf/${t}/forwarding`]: '1',
        [`net/ipv6/conf/${t}/disable_ipv6`]: '1',
        [`net/ipv4/conf/${d}/arp_ignore`]: '8',
        [`net/ipv4/conf/${d}/arp_announce`]: '0',
        [`net/ipv4/conf/${d}/src_valid_mark`]: '0',
        [`net/ipv4/conf/${d}/forwarding`]: '0',
        [`net/ipv6/conf/${d}/disable_ipv6`]: '1',
      });
    }
    return o;
  }

  it('plans nothing when the kernel already holds what is wanted', () => {
    const plan = planKernel(twoDomains(), reconciled());
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(plan.conflicts, []);
  });

  it('puts back a route someone deleted, and nothing else', () => {
    const o = reconciled();
    o.routes = o.routes.filter((r) => !(r.table === 1002 && r.prefix === '192.168.1.0/24'));
    assert.deepEqual(ids(planKernel(twoDomains(), o)), ['route 192.168.1.0/24 table 1002 metric 0']);
  });

  it('evicts the kernel local route again when it came back', () => {
    const o = reconciled();
    o.routes.push({ table: 255, prefix: '192.168.1.1/32', metric: 0, type: 'local', protocol: 2, scope: 'host', ifname: 'nvgw-t5001', source: '192.168.1.1' });
    assert.deepEqual(ids(planKernel(twoDomains(), o)), ['kernel local route 192.168.1.1 on nvgw-t5001 (moved to the domain table)']);
  });

  it('brings a link up again and evicts the local route the kernel re-adds on the way', () => {
    const o = reconciled();
    const link = o.links.find((l) => l.name === 'nvgw-t6001');
    if (link) link.up = false;
    assert.deepEqual(ids(planKernel(twoDomains(), o)), ['link nvgw-t6001', 'kernel local route 192.168.1.1 on nvgw-t6001 (moved to the domain table)']);
  });

  it('replaces a neighbour whose MAC changed (a VM moved) and an owned route whose next hop changed', () => {
    const intent = twoDomains();
    intent.domains[0]!.subnets[0]!.neighbours[0]!.mac = '00155d0a0099';
    intent.domains[0]!.routes.push({ prefix: '10.20.0.0/16', type: 'unicast', nextHop: '192.168.1.253', metric: 0 });
    const o = reconciled();
    o.routes.push({ table: 1001, prefix: '10.20.0.0/16', metric: 0, type: 'unicast', protocol: 78, scope: 'universe', nextHop: '192.168.1.254', ifname: 'nvgw-t5001' });
    const plan = planKernel(intent, o);
    assert.deepEqual(ids(plan), ['neighbour 192.168.1.10 on nvgw-t5001', 'route 10.20.0.0/16 table 1001 metric 0']);
    assert.ok(plan.steps.every((s) => s.op === 'replace'));
  });

  it('does not touch a next-hop route whose device the kernel resolved itself', () => {
    const intent = twoDomains();
    intent.domains[0]!.routes.push({ prefix: '10.20.0.0/16', type: 'unicast', nextHop: '192.168.1.254', metric: 0 });
    const o = reconciled();
    o.routes.push({ table: 1001, prefix: '10.20.0.0/16', metric: 0, type: 'unicast', protocol: 78, scope: 'universe', nextHop: '192.168.1.254', ifname: 'nvgw-t5001' });
    assert.deepEqual(planKernel(intent, o).steps, []);
  });

  it('re-adds an address that lost IFA_F_NOPREFIXROUTE, deleting it first', () => {
    const o = reconciled();
    const a = o.addresses.find((x) => x.ifname === 'nvgw-t5001');
    if (a) a.noPrefixRoute = false;
    const plan = planKernel(twoDomains(), o);
    assert.deepEqual(plan.steps.map((s) => `${s.op} ${s.id}`), [
      'delete address 192.168.1.1/24 on nvgw-t5001',
      'create address 192.168.1.1/24 on nvgw-t5001',
      'delete kernel local route 192.168.1.1 on nvgw-t5001 (moved to the domain table)',
    ]);
  });

  it('recreates a veth pair whose data-path end was renamed, and re-adds what lived on it', () => {
    const intent = twoDomains();
    intent.domains[0]!.subnets[0]!.datapathIfname = 'nvgw-x5001';
    const plan = planKernel(intent, reconciled());
    const first = plan.steps.map((s) => `${s.op} ${s.id}`);
    assert.equal(first[0], 'delete link nvgw-d5001', 'the old pair goes first, both ends at once');
    assert.ok(first.includes('create link nvgw-t5001'));
    assert.ok(first.includes('create address 192.168.1.1/24 on nvgw-t5001'));
    assert.ok(first.includes('replace neighbour 192.168.1.10 on nvgw-t5001'));
    assert.ok(first.includes('replace route 192.168.1.0/24 table 1001 metric 0'));
    assert.ok(!first.some((s) => s.includes('rule')), 'rules name the interface and survive it');
    assert.ok(!first.some((s) => s.includes('6001')), 'the other domain is not disturbed');
  });

  it('removes one domain without disturbing the other', () => {
    const intent = twoDomains();
    intent.domains.pop();
    const plan = planKernel(intent, reconciled());
    assert.deepEqual(plan.steps.map((s) => `${s.op} ${s.id}`), [
      'delete rule 1000 iif nvgw-t6001 lookup 1002',
      'delete rule 1100 fwmark 0x3ea/0xffffffff lookup 1002',
      'delete route unreachable 0.0.0.0/0 table 1002 metric 4278198272',
      'delete link nvgw-t6001',
    ]);
  });

  it('removes duplicate owned rules, keeping one', () => {
    const o = reconciled();
    o.rules.push({ priority: 1000, protocol: 78, table: 1001, action: 'lookup', iif: 'nvgw-t5001', otherSelectors: false });
    assert.deepEqual(ids(planKernel(twoDomains(), o)), ['rule 1000 iif nvgw-t5001 lookup 1001']);
  });

  it('resets a per-link sysctl that drifted', () => {
    const o = reconciled();
    o.sysctls['net/ipv4/conf/nvgw-d6001/forwarding'] = '1';
    const plan = planKernel(twoDomains(), o);
    assert.deepEqual(stepsOf(plan, 'sysctl').map((s) => [s.key, s.value]), [['net/ipv4/conf/nvgw-d6001/forwarding', '0']]);
  });
});

describe('planKernel: intents it refuses', () => {
  const empty: KernelObserved = bareKernel();

  it('refuses link names without the nvgw prefix or longer than IFNAMSIZ allows', () => {
    const intent = twoDomains();
    intent.domains[0]!.subnets[0]!.ifname = 'eth5001';
    intent.domains[1]!.subnets[0]!.datapathIfname = 'nvgw-datapath-6001';
    const plan = planKernel(intent, empty);
    assert.equal(stepsOf(plan, 'link').length, 0);
    assert.deepEqual(plan.conflicts.map((c) => c.id), ['subnet 5001 of domain {00001001-0000-0000-0000-000000000000}', 'subnet 6001 of domain {00001002-0000-0000-0000-000000000000}']);
    assert.match(plan.conflicts[1]?.reason ?? '', /fit 15 characters/);
  });

  it('refuses a second domain on a table another domain has, and the reserved tables', () => {
    const intent = twoDomains();
    intent.domains[1]!.table = 1001;
    intent.domains.push(domain(254, [subnet(7001)]));
    const plan = planKernel(intent, empty);
    assert.deepEqual(plan.conflicts.map((c) => c.reason), [
      'table 1001 already belongs to domain {00001001-0000-0000-0000-000000000000}',
      'table 254 is not a routing table nvgw may use (1..4294967295 but not 253-255)',
    ]);
    assert.ok(!ids(plan).some((id) => id.includes('6001') || id.includes('7001')));
  });

  it('refuses a customer route through another domain\'s interface', () => {
    const intent = twoDomains();
    intent.domains[0]!.routes.push({ prefix: '10.0.0.0/8', type: 'unicast', ifname: 'nvgw-t6001', metric: 0 });
    const plan = planKernel(intent, empty);
    assert.match(plan.conflicts[0]?.reason ?? '', /nvgw-t6001 is not a tenant interface of this routing domain/);
    assert.ok(!ids(plan).includes('route 10.0.0.0/8 table 1001 metric 0'));
  });

  it('refuses a provider route into a tenant link', () => {
    const intent = twoDomains();
    intent.provider.routes.push({ prefix: '10.0.0.0/8', type: 'unicast', ifname: 'nvgw-t5001', metric: 0 });
    assert.match(planKernel(intent, empty).conflicts[0]?.reason ?? '', /must not lead into an nvgw/);
  });

  it('keeps the first of two routes that claim the same table, prefix and metric', () => {
    const intent = twoDomains();
    intent.domains[0]!.routes.push({ prefix: '192.168.1.0/24', type: 'unicast', nextHop: '192.168.1.254', metric: 0 });
    const plan = planKernel(intent, empty);
    const route = stepsOf(plan, 'route').find((s) => s.id === 'route 192.168.1.0/24 table 1001 metric 0');
    assert.equal(route?.route.ifname, 'nvgw-t5001');
    assert.match(plan.conflicts[0]?.reason ?? '', /keeping that one/);
  });

  it('accepts an on-link customer route given as next hop 0.0.0.0 that repeats the address\'s own', () => {
    const intent = twoDomains();
    intent.domains[0]!.routes.push({ prefix: '192.168.1.0/24', type: 'unicast', nextHop: '0.0.0.0', ifname: 'nvgw-t5001', metric: 0 });
    assert.deepEqual(planKernel(intent, empty).conflicts, []);
  });
});
