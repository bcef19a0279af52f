import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DesiredState } from '../../../src/model/desired-state.js';
import { EXTERNAL_METRIC, withExternal } from '../../../src/nat/intent.js';
import { buildKernelIntent } from '../../../src/reconciler/kernel-intent.js';
import { BLUE, GREEN, hnvPart, natConfig, RED } from './fixtures.js';

const TABLES: Record<string, number> = { [BLUE]: 1000, [RED]: 1001, [GREEN]: 1002 };

function build(doc: object = natConfig()) {
  const state = DesiredState.fromDocument(doc);
  const base = buildKernelIntent(state, { backend: 'policy-routing', tenantKind: 'veth', tenantMtu: 1458, tableOf: (rd) => TABLES[rd]! });
  return withExternal(state, base, (rd) => TABLES[rd]! + 1);
}

describe('the external intent', () => {
  it('keeps a NAT uplink\'s address in main and adds every NAT address as a /32, once', () => {
    const ext0 = build().kernel.uplinks!.find((u) => u.ifname === 'ext0')!;
    assert.equal(ext0.table, undefined);
    assert.deepEqual(ext0.addresses, [
      { address: '203.0.113.2', prefixLength: 24 },
      { address: '203.0.113.10', prefixLength: 32 },
      { address: '203.0.113.20', prefixLength: 32 },
      { address: '203.0.113.21', prefixLength: 32 },
    ]);
  });

  it('routes a NAT domain through the uplink after its customer routes and selects its table by mark', () => {
    const blue = build().kernel.domains.find((d) => d.routingDomainId === BLUE)!;
    assert.deepEqual(blue.uplinkRoutes, [
      { prefix: '203.0.113.0/24', type: 'unicast', ifname: 'ext0', metric: EXTERNAL_METRIC },
      { prefix: '0.0.0.0/0', type: 'unicast', nextHop: '203.0.113.1', ifname: 'ext0', metric: EXTERNAL_METRIC },
    ]);
    assert.equal(blue.markRule, true);
  });

  it('places a routed uplink in its domain\'s table', () => {
    const { kernel, firewall } = build();
    assert.deepEqual(kernel.uplinks!.find((u) => u.ifname === 'rt0'), { ifname: 'rt0', table: 1002, addresses: [{ address: '198.18.0.2', prefixLength: 30 }] });
    const green = kernel.domains.find((d) => d.routingDomainId === GREEN)!;
    assert.deepEqual(green.uplinkRoutes!.map((r) => `${r.prefix} ${r.nextHop ?? ''}`), ['198.18.0.0/30 ', '0.0.0.0/0 198.18.0.1']);
    assert.equal(green.markRule, undefined);
    assert.equal(firewall.domains.find((d) => d.routingDomainId === GREEN)!.routedUplink, 'rt0');
  });

  it('gives the firewall each domain\'s zone, interfaces, inside prefixes and rules', () => {
    const { firewall } = build();
    const blue = firewall.domains.find((d) => d.routingDomainId === BLUE)!;
    assert.deepEqual([blue.mark, blue.zone, blue.ifnames], [1000, 1001, ['nvgw-t5001']]);
    assert.deepEqual(blue.nat, {
      uplink: 'ext0',
      internalPrefixes: ['192.168.1.0/24'],
      uplinkPrefix: '203.0.113.0/24',
      snat: '203.0.113.10',
      statics: [{ name: 'db', externalAddress: '203.0.113.20', internalAddress: '192.168.1.102' }],
      forwards: [{ name: 'web', protocol: 'tcp', externalAddress: '203.0.113.10', externalPort: 8080, internalAddress: '192.168.1.101', internalPort: 8000 }],
    });
    assert.deepEqual(firewall.uplinks, [{ ifname: 'ext0', natOnlyAddresses: ['203.0.113.10', '203.0.113.20', '203.0.113.21'] }]);
  });

  it('does not count a customer route meant for the hosts (via the gateway\'s own CA) as inside the domain', () => {
    const doc = natConfig();
    doc.customerRoutes.push({ routingDomainId: BLUE, virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '192.168.1.1' });
    assert.deepEqual(build(doc).firewall.domains.find((d) => d.routingDomainId === BLUE)!.nat!.internalPrefixes, ['192.168.1.0/24']);
  });

  it('configures an unused external network\'s address and nothing else', () => {
    const { kernel, firewall } = build({ ...hnvPart(), externalNetworks: [{ interface: 'ext0', address: '203.0.113.2', prefixLength: 24, defaultGateway: '203.0.113.1' }] });
    assert.deepEqual(kernel.uplinks, [{ ifname: 'ext0', addresses: [{ address: '203.0.113.2', prefixLength: 24 }] }]);
    assert.ok(kernel.domains.every((d) => d.uplinkRoutes === undefined));
    assert.deepEqual(firewall.uplinks, []);
  });
});
