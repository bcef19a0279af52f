import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DesiredState } from '../../../src/model/desired-state.js';
import { buildKernelIntent, UNREACHABLE_METRIC } from '../../../src/reconciler/kernel-intent.js';

const BLUE = '{11111111-2222-3333-4444-000000005001}';
const RED = '{11111111-2222-3333-4444-000000006001}';
const rec = (ca: string, vsid: number, mac: string, pa: string) => ({ customerAddress: ca, virtualSubnetId: vsid, macAddress: mac, providerAddress: pa });
const onLink = (rd: string, vsid: number, prefix: string) => ({ routingDomainId: rd, virtualSubnetId: vsid, destinationPrefix: prefix, nextHop: '0.0.0.0', metric: 10 });

/** The classic HNV example, plus a red tenant reusing blue's addresses. */
function state() {
  return DesiredState.fromDocument({
    routingDomains: [{ routingDomainId: BLUE }, { routingDomainId: RED }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: BLUE },
      { virtualSubnetId: 5002, routingDomainId: BLUE },
      { virtualSubnetId: 6001, routingDomainId: RED },
    ],
    customerRoutes: [
      onLink(BLUE, 5001, '192.168.1.0/24'),
      onLink(BLUE, 5002, '192.168.2.0/24'),
      { routingDomainId: BLUE, virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '192.168.2.250', metric: 255 },
      { routingDomainId: BLUE, virtualSubnetId: 5002, destinationPrefix: '10.99.0.0/16', nextHop: '192.168.2.9', metric: 5 },
      onLink(RED, 6001, '192.168.1.0/24'),
    ],
    lookupRecords: [
      rec('192.168.1.101', 5001, '00155D011404', '10.1.1.20'),
      rec('192.168.2.250', 5002, '00155D143C02', '10.1.1.40'),
      rec('0.0.0.0', 5001, '00155D143C02', '10.1.1.40'),
      rec('192.168.1.101', 6001, '00155D011404', '10.1.1.30'),
    ],
    providerAddresses: [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 }],
    providerRoutes: [{ interface: 'eth1', destinationPrefix: '10.2.0.0/16', nextHop: '10.1.1.1' }],
  });
}

const intent = () => buildKernelIntent(state(), { backend: 'policy-routing', tenantKind: 'veth', tenantMtu: 1458, tableOf: (rd) => (rd === BLUE ? 1000 : 1001) });

describe('the kernel intent', () => {
  it('gives each routing domain its own table and mark', () => {
    const domains = intent().domains;
    assert.deepEqual(domains.map((d) => [d.routingDomainId, d.table, d.mark]), [[BLUE, 1000, 1000], [RED, 1001, 1001]]);
  });

  it('makes the gateway\'s own record an address, with its MAC, on the VSID\'s tenant interface', () => {
    const subnet = intent().domains[0]!.subnets.find((s) => s.vsid === 5002)!;
    assert.equal(subnet.ifname, 'nvgw-t5002');
    assert.equal(subnet.datapathIfname, 'nvgw-d5002');
    assert.equal(subnet.mac, '00155d143c02');
    assert.deepEqual(subnet.addresses, [{ address: '192.168.2.250', prefixLength: 24 }]);
    assert.equal(subnet.mtu, 1458);
  });

  it('turns other records into permanent neighbours, never the wildcard', () => {
    const blue5001 = intent().domains[0]!.subnets.find((s) => s.vsid === 5001)!;
    assert.deepEqual(blue5001.neighbours, [{ address: '192.168.1.101', mac: '00155d011404' }]);
    assert.deepEqual(blue5001.addresses, []);
    assert.match(blue5001.mac, /^024e56/);
  });

  it('does not install a route whose next hop is the gateway\'s own CA (it is meant for the hosts)', () => {
    const routes = intent().domains[0]!.routes;
    assert.ok(!routes.some((r) => r.nextHop === '192.168.2.250'));
    assert.ok(routes.some((r) => r.prefix === '10.99.0.0/16' && r.nextHop === '192.168.2.9'));
    assert.ok(routes.some((r) => r.prefix === '192.168.1.0/24' && r.ifname === 'nvgw-t5001'));
  });

  it('ends every domain table with unreachable defaults, so a miss never reaches another table', () => {
    for (const domain of intent().domains) {
      const ends = domain.routes.filter((r) => r.type === 'unreachable');
      assert.deepEqual(ends.map((r) => [r.prefix, r.metric]), [['0.0.0.0/0', UNREACHABLE_METRIC]]);
    }
  });

  it('keeps overlapping tenants apart: the same prefix appears once per domain, on its own interface', () => {
    const [blue, red] = intent().domains;
    assert.ok(blue!.routes.some((r) => r.prefix === '192.168.1.0/24' && r.ifname === 'nvgw-t5001'));
    assert.ok(red!.routes.some((r) => r.prefix === '192.168.1.0/24' && r.ifname === 'nvgw-t6001'));
  });

  it('puts the PAs and provider routes on the provider side', () => {
    const { provider } = intent();
    assert.deepEqual(provider.addresses, [{ ifname: 'eth1', address: '10.1.1.40', prefixLength: 24 }]);
    assert.equal(provider.routes[0]?.nextHop, '10.1.1.1');
  });
});
